/**
 * Command templates: compiled once when the provider loads, rendered per call.
 *
 * A template is split into argv words *before* substitution, so a value is always exactly one
 * argument (or, when a whole word is a placeholder whose value is an array, one argument per
 * element) and nothing runs through a shell. A template that is shell code (a pipe, a
 * redirection, `$(…)`, `&&`, …, or `shell: true`) runs as `/bin/sh -c SCRIPT`, and there a value
 * never becomes shell text either: each placeholder is a double-quoted environment variable
 * (`"${OMNI_P0}"`) and the value travels in the environment. Placeholders where a value would be
 * read as code (comments, here-documents, eval, `sh -c` scripts, `python -c`, …) are load errors
 * (shell-code.ts, code-positions.ts).
 */
import { CachedAnalyser } from './analysis-cache';
import { analyseCall } from './code-positions';
import { parseTemplate, type Segment } from './placeholders';
import type { Problem, ShellLang } from './programs';
import { plainWords, problemText, TemplateSyntaxError, type CompiledCommand, type Quote, type WordPart } from './shell';
import { validationError } from '../errors';
import { requireValue, spliceable, toText, type Scope } from './values';

/** What the parser chunk offers; the provider loader wraps it with a cache. */
export interface ShellAnalyser {
  template(template: string, segments: readonly Segment[], opts: { shell?: boolean }): CompiledCommand;
  script(code: string, lang: ShellLang, positional: ReadonlyArray<readonly string[]>): Problem[];
}

export type { CompiledCommand };

const SHELL_PATH = '/bin/sh';

/** Compiles a command template; throws TemplateSyntaxError for one that cannot run safely. */
export function compileCommand(template: string, opts: { shell?: boolean } = {}, analyser: ShellAnalyser = new CachedAnalyser()): CompiledCommand {
  const segments = parseTemplate(template);
  const plain = opts.shell === true ? null : plainWords(segments);
  if (!plain) return analyser.template(template, segments, opts);
  const words = plain.map((w) => ({
    text: w.every((p) => p.kind === 'text') ? w.map((p) => (p as { text: string }).text).join('') : null,
    values: w.filter((p) => p.kind === 'param').map((p) => (p as { name: string }).name),
    splice: w.length === 1 && w[0]?.kind === 'param',
  }));
  const r = analyseCall(words, false);
  const problems = [...r.problems, ...r.nested.flatMap((n) => analyser.script(n.code, n.lang, n.positional))];
  if (problems.length) throw new TemplateSyntaxError(problems.map(problemText).join('; '));
  return { mode: 'argv', words: plain };
}

/** The names a compiled command refers to. */
export function commandPlaceholders(c: CompiledCommand): string[] {
  const parts = c.mode === 'argv' ? c.words.flat() : c.script;
  return [...new Set(parts.filter((p) => p.kind === 'param').map((p) => (p as { name: string }).name))];
}

function renderParts(parts: readonly WordPart[], scope: Scope, where: string): string {
  let s = '';
  for (const p of parts) s += p.kind === 'text' ? p.text : toText(requireValue(scope, p.name, where), p.name, where);
  return s;
}

/** A reference to the variable that carries a value, for the quoting context it stands in. */
function reference(variable: string, quote: Quote): string {
  if (quote === 'dq') return `\${${variable}}`;
  if (quote === 'sq') return `'"\${${variable}}"'`;
  return `"\${${variable}}"`;
}

/** Shell code with every value moved into the environment: the script text holds only references. */
function renderScript(parts: readonly WordPart[], scope: Scope, where: string): { script: string; env: Record<string, string> } {
  const env: Record<string, string> = {};
  const vars = new Map<string, string>();
  let script = '';
  for (const p of parts) {
    if (p.kind === 'text') {
      script += p.text;
      continue;
    }
    const v = requireValue(scope, p.name, where);
    let base = vars.get(p.name);
    if (!base) vars.set(p.name, (base = `OMNI_P${vars.size}`));
    if (p.list && spliceable(scope, p.name, v, where)) {
      script += v.map((x, i) => ((env[`${base}_${i}`] = toText(x, p.name, where)), reference(`${base}_${i}`, 'bare'))).join(' ');
      continue;
    }
    env[base] = toText(v, p.name, where);
    script += reference(base, p.quote as Quote);
  }
  return { script, env };
}

export interface RenderedCommand {
  file: string;
  args: string[];
  /** Whether the command runs through /bin/sh. */
  shell: boolean;
  /** Variables that carry values into shell code. */
  env: Record<string, string>;
}

export function renderCommand(c: CompiledCommand, scope: Scope, where: string): RenderedCommand {
  if (c.mode === 'shell') {
    const { script, env } = renderScript(c.script, scope, where);
    return { file: SHELL_PATH, args: ['-c', script], shell: true, env };
  }
  const argv: string[] = [];
  for (const w of c.words) {
    const only = w.length === 1 ? w[0] : undefined;
    if (only && only.kind === 'param') {
      const v = requireValue(scope, only.name, where);
      if (spliceable(scope, only.name, v, where)) {
        for (const x of v) argv.push(toText(x, only.name, where));
        continue;
      }
    }
    argv.push(renderParts(w, scope, where));
  }
  const [file, ...args] = argv as [string, ...string[]];
  if (!file) throw validationError(`${where}: the program name is empty`);
  return { file, args, shell: false, env: {} };
}
