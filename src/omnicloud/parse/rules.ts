/**
 * Parse rules: turn an action's raw output into structured data.
 *
 * - `object`: each pattern once over the whole output; fields in declaration order;
 * - `array`: the output split by a separator regex into items. The first required pattern is the
 *   item key: items it does not match (headers, dashed rules, footers) are skipped; an item it
 *   matches but another required pattern does not is an error. `header_lines`/`footer_lines` drop
 *   items explicitly (for a header the key would match);
 * - `properties`: `object` plus `array_patterns` (lines grouped by an index, items in numeric index
 *   order) and `related_patterns`;
 * - `json`: see json.ts; `text`: the output itself.
 *
 * A pattern's `group` defaults to 1 when its regex has a capture group and to 0 (the whole match)
 * otherwise. A required field that does not match is an error naming the field.
 */
import { providerError } from '../errors';
import type { Scope } from '../template/values';
import { applyJsonRule, type JsonRule } from './json';
import type { LinearRegex } from './linear';
import { materialize, type CompiledRegex } from './regex';
import { transformText, type Transform } from './transform';

export interface CompiledPattern {
  regex: CompiledRegex;
  group?: number | string;
  transform?: Transform;
  optional: boolean;
  default?: unknown;
  matchValue?: string;
}

export type Fields = Array<[string, CompiledPattern]>;

export interface ArrayPattern {
  line: LinearRegex;
  indexGroup: number;
  object: Fields;
}

export type CompiledRules =
  | { type: 'object'; patterns: Fields }
  | { type: 'array'; separator: CompiledRegex; patterns: Fields; headerLines: number; footerLines: number }
  | { type: 'properties'; patterns: Fields; arrays: Array<[string, ArrayPattern]>; arrayKey?: string; related: Fields }
  | JsonRule
  | { type: 'text'; trim: boolean };

/** `matched`: the regex matched and the group captured; `found`: there is a value (a boolean always has one). */
type Match = { matched: boolean; found: boolean; value?: unknown };

/** The regexes of one parse: one with placeholders is built when first used, then reused. */
type Regexes = (r: CompiledRegex) => LinearRegex;

function regexes(scope: Scope, where: string): Regexes {
  const built = new Map<CompiledRegex, LinearRegex>();
  return (r) => {
    if (r.fixed) return r.fixed;
    let re = built.get(r);
    if (!re) {
      re = materialize(r, scope, where);
      built.set(r, re);
    }
    return re;
  };
}

/** One pattern over a text: its (transformed) capture, or not found. */
function applyPattern(text: string, name: string, p: CompiledPattern, re: Regexes): Match {
  const regex = re(p.regex);
  const m = regex.exec(text);
  const group = p.group ?? (regex.groups > 0 ? 1 : 0);
  const captured = m ? (typeof group === 'string' ? m.named[group] : m.groups[group]) : undefined;
  if (p.transform === 'boolean' && (group === 0 || captured === undefined)) {
    // Without a capture to read, a boolean says whether the pattern matched.
    return { matched: captured !== undefined, found: true, value: m !== null };
  }
  if (captured === undefined) return { matched: false, found: false };
  return { matched: true, found: true, value: transformText(p.transform, captured, name) };
}

function missing(name: string, p: CompiledPattern, context: string): never {
  throw providerError(`field '${name}': /${p.regex.source}/${p.regex.flags} did not match ${context}`, { field: name, pattern: p.regex.source });
}

function applyFields(text: string, fields: Fields, re: Regexes, context: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, p] of fields) {
    const r = applyPattern(text, name, p, re);
    if (r.found) out[name] = r.value;
    else if (p.default !== undefined) out[name] = p.default;
    else if (!p.optional) missing(name, p, context);
  }
  return out;
}

function applyArray(rule: Extract<CompiledRules, { type: 'array' }>, text: string, re: Regexes): unknown[] {
  let items = re(rule.separator).split(text).filter((s) => s.trim() !== '');
  items = items.slice(rule.headerLines, items.length - rule.footerLines);
  const required = rule.patterns.filter(([, p]) => !p.optional && p.default === undefined && p.transform !== 'boolean');
  const out: unknown[] = [];
  items.forEach((item, i) => {
    const results = new Map(rule.patterns.map(([name, p]) => [name, applyPattern(item, name, p, re)] as const));
    // The first required pattern is the item's key: where it does not match, the item is a
    // header, a rule line or a footer and is skipped.
    const key = required[0];
    if (key && !results.get(key[0])?.matched) return;
    if (!key && ![...results.values()].some((r) => r.matched)) return;
    const obj: Record<string, unknown> = {};
    for (const [name, p] of rule.patterns) {
      const r = results.get(name) as Match;
      if (r.found) obj[name] = r.value;
      else if (p.default !== undefined) obj[name] = p.default;
      else if (!p.optional) missing(name, p, `item ${i + 1} of the output (other fields of that item matched)`);
    }
    out.push(obj);
  });
  return out;
}

function applyProperties(rule: Extract<CompiledRules, { type: 'properties' }>, text: string, re: Regexes): unknown {
  const out = applyFields(text, rule.patterns, re, 'the output');
  const lines = text.split(/\r?\n/);
  for (const [key, ap] of rule.arrays) {
    const groups = new Map<string, string[]>();
    for (const line of lines) {
      const m = ap.line.exec(line);
      const idx = m?.groups[ap.indexGroup];
      if (idx === undefined) continue;
      const g = groups.get(idx) ?? [];
      g.push(line);
      groups.set(idx, g);
    }
    let keys = [...groups.keys()];
    if (keys.every((k) => /^\d+$/.test(k))) keys = keys.sort((a, b) => Number(a) - Number(b));
    const items: unknown[] = [];
    for (const k of keys) {
      const item = applyFields((groups.get(k) as string[]).join('\n'), ap.object, re, `the lines of ${key} ${k}`);
      if (Object.keys(item).length) items.push(item);
    }
    out[key] = items;
  }
  for (const [name, p] of rule.related) {
    const r = applyPattern(text, name, p, re);
    if (!r.found) {
      if (p.default !== undefined) out[name] = p.default;
      else if (!p.optional) missing(name, p, 'the output');
      continue;
    }
    if (p.matchValue !== undefined) {
      const base = out[p.matchValue];
      out[name] = base !== undefined && String(r.value) === String(base) ? true : r.value;
    } else out[name] = r.value;
  }
  if (rule.arrayKey !== undefined) return out[rule.arrayKey] ?? [];
  return out;
}

/** Applies an action's parse rules to its output. */
export function applyRules(rule: CompiledRules | undefined, text: string, scope: Scope, where: string): unknown {
  if (!rule) return text.trim();
  switch (rule.type) {
    case 'object':
      return applyFields(text, rule.patterns, regexes(scope, where), 'the output');
    case 'array':
      return applyArray(rule, text, regexes(scope, where));
    case 'properties':
      return applyProperties(rule, text, regexes(scope, where));
    case 'json':
      return applyJsonRule(rule, text);
    case 'text':
      return rule.trim ? text.trim() : text;
  }
}
