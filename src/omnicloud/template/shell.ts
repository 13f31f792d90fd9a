/**
 * Just enough of the POSIX shell grammar to run command templates safely:
 *
 * - `splitWords` splits a template into argv words (quotes and backslashes as sh reads them) with
 *   placeholders kept as atoms, and says whether the template needs a shell at all (pipes,
 *   redirections, `$(…)`, globs, `;`, …);
 * - `scriptContexts` reads shell code (a shell-mode template, or the script word of `sh -c '…'`)
 *   and tells for every placeholder whether it sits bare, inside "…" or inside '…', so that its
 *   value can be quoted for exactly that spot. Spots where no quoting is safe (backticks, `${…}`,
 *   `$'…'`, here-documents, after a backslash) are refused when the provider loads.
 *
 * The `shell-quote` package was considered: its parser expands `$VAR` and drops the quoting context
 * of each position, and its quoting is only right for a bare word, so it cannot do either job.
 */
import type { Segment } from './placeholders';

export type Quote = 'bare' | 'dq' | 'sq';
export type Part = { kind: 'text'; text: string } | { kind: 'param'; name: string };

export class TemplateSyntaxError extends Error {}

/** POSIX single quoting: safe for any value in a bare shell word. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A value quoted for the spot it is inserted at: the surrounding quotes are closed and reopened. */
export function quoteIn(ctx: Quote, s: string): string {
  if (ctx === 'bare') return shQuote(s);
  if (ctx === 'dq') return `"${shQuote(s)}"`;
  return `'${shQuote(s)}'`;
}

export interface Words {
  words: Part[][];
  /** Why the template needs a shell (the first construct found), or null. */
  needsShell: string | null;
}

const META = new Set(['|', '&', ';', '<', '>', '(', ')']);
const GLOB = new Set(['*', '?', '[']);

/** sh-style word splitting of a template; placeholders become parts of the word they are in. */
export function splitWords(segments: readonly Segment[]): Words {
  const words: Part[][] = [];
  let word: Part[] = [];
  let inWord = false;
  let needsShell: string | null = null;
  let state: 'bare' | 'sq' | 'dq' = 'bare';
  const need = (why: string) => {
    if (needsShell === null) needsShell = why;
  };
  const addText = (t: string) => {
    const last = word[word.length - 1];
    if (last && last.kind === 'text') last.text += t;
    else word.push({ kind: 'text', text: t });
    inWord = true;
  };
  const endWord = () => {
    if (inWord) words.push(word);
    word = [];
    inWord = false;
  };

  segments.forEach((seg, si) => {
    if (seg.kind === 'param') {
      word.push({ kind: 'param', name: seg.name });
      inWord = true;
      return;
    }
    const t = seg.text;
    for (let i = 0; i < t.length; i++) {
      const c = t[i] as string;
      const next = t[i + 1];
      if (state === 'sq') {
        if (c === "'") state = 'bare';
        else addText(c);
        continue;
      }
      if (c === '\\') {
        if (next === undefined) {
          if (segments[si + 1]?.kind === 'param') throw new TemplateSyntaxError('a backslash right before a placeholder is ambiguous');
          throw new TemplateSyntaxError('a backslash at the end of the command');
        }
        i++;
        // In "…" a backslash only escapes $ ` " \ and newline; elsewhere it stays.
        if (state === 'dq' && !'$`"\\\n'.includes(next)) addText('\\' + next);
        else if (next !== '\n') addText(next);
        continue;
      }
      if (state === 'dq') {
        if (c === '"') state = 'bare';
        else {
          if (c === '`') need('a backtick');
          if (c === '$' && next !== undefined && /[A-Za-z_{(0-9@*#?$!-]/.test(next)) need(`'$${next}'`);
          addText(c);
        }
        continue;
      }
      // bare
      if (c === ' ' || c === '\t' || c === '\n') {
        endWord();
        continue;
      }
      if (c === "'") {
        state = 'sq';
        inWord = true;
        continue;
      }
      if (c === '"') {
        state = 'dq';
        inWord = true;
        continue;
      }
      if (META.has(c)) need(`'${c}'`);
      else if (c === '`') need('a backtick');
      else if (c === '$' && next !== undefined && /[A-Za-z_{(0-9@*#?$!-]/.test(next)) need(`'$${next}'`);
      else if (GLOB.has(c)) need(`the glob character '${c}'`);
      else if ((c === '~' || c === '#') && !inWord) need(`'${c}' at the start of a word`);
      addText(c);
    }
  });
  if (state !== 'bare') throw new TemplateSyntaxError(`unterminated ${state === 'sq' ? 'single' : 'double'} quote`);
  endWord();
  return { words, needsShell };
}

type Frame = 'bare' | 'subst' | 'dq' | 'sq' | 'backtick' | 'brace' | 'ansi';

export interface ScriptParam {
  name: string;
  ctx: Quote;
}

/** The quoting context of every placeholder in shell code, in order. */
export function scriptContexts(parts: readonly Part[]): ScriptParam[] {
  const out: ScriptParam[] = [];
  const stack: Frame[] = ['bare'];
  const depth: number[] = [0];
  let heredoc = false;
  let comment = false;
  let wordStart = true;
  const top = () => stack[stack.length - 1] as Frame;

  parts.forEach((part, pi) => {
    if (part.kind === 'param') {
      const f = top();
      if (heredoc) throw new TemplateSyntaxError(`placeholder {${part.name}} after a here-document ('<<') is not supported: pass the value as an argument`);
      if (comment || f === 'bare' || f === 'subst') out.push({ name: part.name, ctx: 'bare' });
      else if (f === 'dq') out.push({ name: part.name, ctx: 'dq' });
      else if (f === 'sq') out.push({ name: part.name, ctx: 'sq' });
      else {
        const where = f === 'backtick' ? 'inside backticks (use $(…))' : f === 'brace' ? "inside '${…}'" : "inside $'…'";
        throw new TemplateSyntaxError(`placeholder {${part.name}} ${where} cannot be quoted safely`);
      }
      wordStart = false;
      return;
    }
    const t = part.text;
    for (let i = 0; i < t.length; i++) {
      const c = t[i] as string;
      const next = t[i + 1];
      const f = top();
      if (comment) {
        if (c === '\n') {
          comment = false;
          wordStart = true;
        }
        continue;
      }
      if (f === 'sq') {
        if (c === "'") stack.pop();
        continue;
      }
      if (c === '\\') {
        if (next === undefined && parts[pi + 1]?.kind === 'param') {
          throw new TemplateSyntaxError(`a backslash right before placeholder {${(parts[pi + 1] as { name: string }).name}} is ambiguous`);
        }
        i++;
        wordStart = false;
        continue;
      }
      if (f === 'ansi') {
        if (c === "'") stack.pop();
        continue;
      }
      if (f === 'backtick') {
        if (c === '`') stack.pop();
        continue;
      }
      if (c === '$' && next === '(') {
        stack.push('subst');
        depth.push(0);
        i++;
        wordStart = true;
        continue;
      }
      if (c === '$' && next === '{') {
        stack.push('brace');
        i++;
        continue;
      }
      if (c === '$' && next === "'" && f !== 'dq') {
        stack.push('ansi');
        i++;
        continue;
      }
      if (c === '`') {
        stack.push('backtick');
        continue;
      }
      if (f === 'dq') {
        if (c === '"') stack.pop();
        continue;
      }
      if (f === 'brace' && c === '}') {
        stack.pop();
        continue;
      }
      // bare, subst or brace
      if (c === "'") {
        stack.push('sq');
        wordStart = false;
        continue;
      }
      if (c === '"') {
        stack.push('dq');
        wordStart = false;
        continue;
      }
      if (f === 'bare' || f === 'subst') {
        if (c === '#' && wordStart) {
          comment = true;
          continue;
        }
        if (c === '<' && next === '<' && t[i + 2] !== '<') heredoc = true;
        if (f === 'subst' && c === '(') depth[depth.length - 1]!++;
        if (f === 'subst' && c === ')') {
          if ((depth[depth.length - 1] as number) > 0) depth[depth.length - 1]!--;
          else {
            stack.pop();
            depth.pop();
          }
        }
        wordStart = /[\s;&|()]/.test(c);
      }
    }
  });
  if (stack.length > 1) throw new TemplateSyntaxError(`unterminated ${describeFrame(top())} in shell code`);
  return out;
}

function describeFrame(f: Frame): string {
  return { bare: 'text', subst: "'$('", dq: 'double quote', sq: 'single quote', backtick: 'backtick', brace: "'${'", ansi: "$'" }[f];
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'mksh', 'zsh']);
/** Programs whose `-c` argument is shell code too. */
const SHELL_LIKE = new Set([...SHELLS, 'su', 'runuser']);

function literal(word: readonly Part[]): string | null {
  return word.every((p) => p.kind === 'text') ? word.map((p) => (p as { text: string }).text).join('') : null;
}

function basename(s: string): string {
  return s.slice(s.lastIndexOf('/') + 1);
}

/**
 * Indexes of the words that are shell code: the script of every `sh -c SCRIPT` (also bash, dash,
 * …, `busybox sh`, `su -c`), wherever it appears in argv (`docker exec c sh -c '…'` included).
 */
export function nestedScripts(words: readonly Part[][]): number[] {
  const found: number[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = literal(words[i] as Part[]);
    if (w === null || !SHELL_LIKE.has(basename(w))) continue;
    for (let j = i + 1; j < words.length; j++) {
      const opt = literal(words[j] as Part[]);
      if (opt === null || !/^[-+]/.test(opt) || opt === '--' || opt === '-') break;
      if (/^-o$|^\+o$/.test(opt)) {
        j++;
        continue;
      }
      if (/^-[A-Za-z]*c[A-Za-z]*$/.test(opt)) {
        if (j + 1 < words.length) found.push(j + 1);
        break;
      }
    }
  }
  return found;
}

const NESTED_SHELL = /(?:^|[\s;&|(`'"])(?:[^\s;&|(`'"]*\/)?(?:sh|bash|dash|ash|ksh|mksh|zsh|su|runuser)\s+(?:[-+][A-Za-z]*\s+)*-[A-Za-z]*c(?:\s|$)/;

/** Whether shell code starts another shell on a script of its own (values would be read twice). */
export function startsNestedShell(parts: readonly Part[]): boolean {
  const text = parts.map((p) => (p.kind === 'text' ? p.text : ' X ')).join('');
  const m = NESTED_SHELL.exec(text);
  if (!m) return false;
  // Only a problem when a placeholder follows the nested shell.
  let pos = 0;
  for (const p of parts) {
    const len = p.kind === 'text' ? p.text.length : 3;
    if (p.kind === 'param' && pos >= m.index) return true;
    pos += len;
  }
  return false;
}
