/**
 * Placeholder values: where they come from (parameters, earlier steps, the main result) and how a
 * JSON value becomes text. A placeholder without a value is a ValidationError naming it: a literal
 * `{x}` never reaches a process or a URL.
 */
import { validationError } from '../errors';
import type { Segment } from './placeholders';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** What templates can refer to while an action runs. */
export interface Scope {
  params: Readonly<Record<string, unknown>>;
  /** Parsed outputs of the steps that already ran, by step name. */
  steps: Readonly<Record<string, unknown>>;
  /** The main target's parsed result (post_exec steps only). */
  result?: unknown;
  /** Parameters whose value came from a manifest (cloud_properties): never spliced into several arguments. */
  fromManifest?: ReadonlySet<string>;
}

/** A list value for a whole-word placeholder becomes several arguments, unless a manifest gave it. */
export function spliceable(scope: Scope, name: string, v: unknown, where: string): v is unknown[] {
  if (!Array.isArray(v)) return false;
  if (scope.fromManifest?.has(name)) {
    throw validationError(`${where}: {${name}} holds a list from the manifest: a manifest value is one argument, never several (lists that become several arguments only come from the operator, the provider or the bridge)`, { placeholder: name });
  }
  return true;
}

function walk(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const p of path) {
    if (Array.isArray(v) && /^\d+$/.test(p)) v = v[Number(p)];
    else if (v !== null && typeof v === 'object' && Object.prototype.hasOwnProperty.call(v, p)) v = (v as Record<string, unknown>)[p];
    else return undefined;
  }
  return v;
}

/** The value of a placeholder, or undefined when there is none (null counts as none). */
export function lookup(scope: Scope, name: string): unknown {
  const [head, ...rest] = name.split('.');
  let v: unknown;
  if (head === 'steps' && rest.length) v = walk(scope.steps, rest);
  else if (head === 'result') v = walk(scope.result, rest);
  else if (rest.length === 0) v = Object.prototype.hasOwnProperty.call(scope.params, name) ? scope.params[name] : undefined;
  else v = walk(scope.params[head as string], rest);
  return v === null ? undefined : v;
}

export function requireValue(scope: Scope, name: string, where: string): unknown {
  const v = lookup(scope, name);
  if (v === undefined) throw validationError(`${where}: no value for placeholder {${name}}`, { placeholder: name });
  return v;
}

/** Text of a value: strings as they are, numbers and booleans printed, arrays and objects as JSON. */
export function toText(v: unknown, name: string, where: string): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') s = String(v);
  else s = JSON.stringify(v);
  if (s.includes('\0')) throw validationError(`${where}: the value of {${name}} contains a NUL character`, { placeholder: name });
  return s;
}

/** A template as text: each placeholder replaced by its value's text, passed through `encode`. */
export function renderSegments(segs: readonly Segment[], scope: Scope, where: string, encode: (s: string) => string = (s) => s): string {
  return segs.map((s) => (s.kind === 'text' ? s.text : encode(toText(requireValue(scope, s.name, where), s.name, where)))).join('');
}
