/**
 * The regex dialect of parse rules, pinned and explicit:
 *
 * - RE2 syntax, matched in linear time (linear.ts): `\d`, `\s`, `[^"]`, `(?<name>…)`, `(?P<name>…)`;
 *   backreferences and lookaround are load errors naming the pattern;
 * - flags come from the pattern's `flags` (`i`, `m`, `s`); the default is `m` — `^` and `$` match
 *   at line boundaries — and `.` never crosses a newline unless `s` is given. A leading inline group
 *   such as `(?s)` or `(?im)`, as Rust's regex wrote flags, is accepted and moved into the flags;
 * - `(.*)`, `.*`, `^(.*)$` and `^.*$` alone — the original engine's idiom for "the raw output" —
 *   capture the whole output (dot-all, no multiline) when no flags are given;
 * - `{param}` of a declared parameter is replaced by the value with every regex metacharacter
 *   escaped, so a value is only ever matched literally.
 */
import { parseTemplate } from '../template/placeholders';
import { LinearRegex } from './linear';
import { requireValue, toText, type Scope } from '../template/values';

const WHOLE_OUTPUT = new Set(['(.*)', '.*', '^(.*)$', '^.*$']);

export interface RegexSpec {
  regex: string;
  flags?: string;
}

export interface CompiledRegex {
  source: string;
  flags: string;
  /** Declared parameters that occur as `{name}` in the source; empty for a fixed regex. */
  params: string[];
  fixed?: LinearRegex;
  /** Capture groups (substituted values are escaped, so they add none); known when checked at load. */
  groups?: number;
}

export function splitInlineFlags(source: string, flags: string | undefined): { source: string; flags: string } {
  const m = /^\(\?([ims]+)\)/.exec(source);
  let f = flags ?? (WHOLE_OUTPUT.has(source) ? 's' : 'm');
  let s = source;
  if (m) {
    s = source.slice(m[0].length);
    f = [...new Set([...(flags ?? ''), ...(m[1] as string)])].join('');
  }
  return { source: s, flags: f };
}

/** Every character that means something in a regex, inside or outside a class, made literal. */
function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&').replace(/-/g, '\\x2d');
}

/**
 * Compiles (or, with parameters in it, checks) a regex; throws SyntaxError with the reason.
 * `checked`: the regex is known to compile (its file was verified): it is compiled on first use.
 */
export function compileRegex(spec: RegexSpec, declared: ReadonlySet<string>, checked = false): CompiledRegex {
  const { source, flags } = splitInlineFlags(spec.regex, spec.flags);
  const params = parseTemplate(source)
    .filter((s) => s.kind === 'param' && declared.has(s.name))
    .map((s) => (s as { name: string }).name);
  if (checked) return params.length ? { source, flags, params } : { source, flags, params, fixed: LinearRegex.deferred(source, flags) };
  const probeSource = params.length ? substitute(source, declared, () => 'x') : source;
  const probe = LinearRegex.compile(probeSource, flags);
  const groups = probe.groups;
  return params.length ? { source, flags, params, groups } : { source, flags, params, fixed: probe, groups };
}

function substitute(source: string, declared: ReadonlySet<string>, value: (name: string) => string): string {
  return parseTemplate(source)
    .map((s) => (s.kind === 'text' ? s.text : declared.has(s.name) ? escapeRegex(value(s.name)) : `{${s.name}}`))
    .join('');
}

export function materialize(r: CompiledRegex, scope: Scope, where: string): LinearRegex {
  if (r.fixed) return r.fixed;
  return LinearRegex.compile(substitute(r.source, new Set(r.params), (n) => toText(requireValue(scope, n, where), n, where)), r.flags);
}
