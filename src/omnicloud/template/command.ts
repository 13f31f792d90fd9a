/**
 * Command templates: compiled once when the provider loads, rendered per call.
 *
 * The template is split into argv words *before* substitution, so a value is always exactly one
 * argument (or, when a whole word is a placeholder whose value is an array, one argument per
 * element) and nothing is run through a shell. Two cases need shell code, and there every value is
 * POSIX-quoted for the spot it lands in:
 * - the template itself uses shell syntax (a pipe, a redirection, `$(…)`, `&&`, …) or says
 *   `shell: true`: it runs as `/bin/sh -c <template>`;
 * - a word is the script of `sh -c '…'` (bash, dash, `busybox sh`, `su -c`, also behind
 *   `docker exec …`): that word is shell code.
 */
import { parseTemplate } from './placeholders';
import { nestedScripts, quoteIn, scriptContexts, splitWords, startsNestedShell, TemplateSyntaxError, type Part, type Quote } from './shell';
import { validationError } from '../errors';
import { requireValue, toText, type Scope } from './values';

export type WordPart = { kind: 'text'; text: string } | { kind: 'param'; name: string; quote: 'raw' | Quote };

export type CompiledCommand =
  | { mode: 'argv'; words: WordPart[][] }
  | { mode: 'shell'; script: WordPart[]; reason: string };

const SHELL_PATH = '/bin/sh';

function withContexts(parts: readonly Part[]): WordPart[] {
  if (startsNestedShell(parts)) {
    throw new TemplateSyntaxError('shell code that starts another shell with placeholders in its script (they would be read twice): pass values as positional arguments ($1, $2) of the inner shell instead');
  }
  const ctxs = scriptContexts(parts);
  let k = 0;
  return parts.map((p) => (p.kind === 'text' ? p : { kind: 'param', name: p.name, quote: (ctxs[k++] as { ctx: Quote }).ctx }));
}

/** Compiles a command template; throws TemplateSyntaxError for a template that cannot be run safely. */
export function compileCommand(template: string, opts: { shell?: boolean } = {}): CompiledCommand {
  const segments = parseTemplate(template);
  const { words, needsShell } = splitWords(segments);
  if (words.length === 0) throw new TemplateSyntaxError('the command is empty');
  if (needsShell !== null || opts.shell === true) {
    if (opts.shell === false) throw new TemplateSyntaxError(`the command needs a shell (it uses ${needsShell}) but says shell: false`);
    const parts: Part[] = segments.map((s) => (s.kind === 'text' ? { kind: 'text', text: s.text } : { kind: 'param', name: s.name }));
    return { mode: 'shell', script: withContexts(parts), reason: needsShell ?? 'shell: true' };
  }
  const scripts = new Set(nestedScripts(words));
  const compiled = words.map((w, i): WordPart[] =>
    scripts.has(i) ? withContexts(w) : w.map((p) => (p.kind === 'text' ? p : { kind: 'param', name: p.name, quote: 'raw' })),
  );
  return { mode: 'argv', words: compiled };
}

/** The names a compiled command refers to. */
export function commandPlaceholders(c: CompiledCommand): string[] {
  const parts = c.mode === 'argv' ? c.words.flat() : c.script;
  return [...new Set(parts.filter((p) => p.kind === 'param').map((p) => (p as { name: string }).name))];
}

function quoted(quote: Quote, v: unknown, name: string, where: string): string {
  // An array in a bare spot of shell code is a list of words, each quoted; anywhere else it is JSON.
  if (Array.isArray(v) && quote === 'bare') return v.map((x) => quoteIn('bare', toText(x, name, where))).join(' ');
  return quoteIn(quote, toText(v, name, where));
}

function renderParts(parts: readonly WordPart[], scope: Scope, where: string): string {
  let s = '';
  for (const p of parts) {
    if (p.kind === 'text') s += p.text;
    else {
      const v = requireValue(scope, p.name, where);
      s += p.quote === 'raw' ? toText(v, p.name, where) : quoted(p.quote, v, p.name, where);
    }
  }
  return s;
}

export interface RenderedCommand {
  file: string;
  args: string[];
  /** Whether the command runs through /bin/sh. */
  shell: boolean;
}

export function renderCommand(c: CompiledCommand, scope: Scope, where: string): RenderedCommand {
  if (c.mode === 'shell') return { file: SHELL_PATH, args: ['-c', renderParts(c.script, scope, where)], shell: true };
  const argv: string[] = [];
  for (const w of c.words) {
    const only = w.length === 1 ? w[0] : undefined;
    if (only && only.kind === 'param' && only.quote === 'raw') {
      const v = requireValue(scope, only.name, where);
      if (Array.isArray(v)) {
        for (const x of v) argv.push(toText(x, only.name, where));
        continue;
      }
    }
    argv.push(renderParts(w, scope, where));
  }
  const [file, ...args] = argv as [string, ...string[]];
  if (!file) throw validationError(`${where}: the program name is empty`);
  return { file, args, shell: false };
}
