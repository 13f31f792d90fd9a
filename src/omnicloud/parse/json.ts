/**
 * The `json` parse rule: JSON output is read as JSON, fields picked by JSON pointer (RFC 6901),
 * instead of being scraped with regexes.
 */
import { providerError } from '../errors';
import { parseJson } from '../../runtime/json';
import { transformValue, type Transform } from './transform';

export interface JsonField {
  pointer: string;
  optional: boolean;
  default?: unknown;
  transform?: Transform;
}

export interface JsonRule {
  type: 'json';
  /** The output is JSON Lines (one document per non-empty line); the result is an array. */
  lines: boolean;
  /** A pointer to an array in the document: fields apply to each item; the result is an array. */
  items?: string;
  /** A document with a non-empty value at this pointer reports an error in-band (Docker's progress streams). */
  errorPointer?: string;
  fields?: Array<[string, JsonField]>;
}

/** A failure the output itself reports (error_pointer); the engine classifies it by the error rules. */
export class ReportedError extends Error {
  constructor(readonly reported: string) {
    super(`the output reports an error: ${reported}`);
  }
}

function checkReported(docs: readonly unknown[], pointer: string): void {
  for (const d of docs) {
    const v = resolvePointer(d, pointer);
    if (v === undefined || v === null || v === '' || v === false) continue;
    throw new ReportedError(typeof v === 'string' ? v : JSON.stringify(v));
  }
}

export function isPointer(p: string): boolean {
  return p === '' || p.startsWith('/');
}

/** The value at a JSON pointer, or undefined. */
function resolvePointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let v: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(v)) {
      if (!/^(0|[1-9]\d*)$/.test(key)) return undefined;
      v = v[Number(key)];
    } else if (v !== null && typeof v === 'object' && Object.prototype.hasOwnProperty.call(v, key)) {
      v = (v as Record<string, unknown>)[key];
    } else return undefined;
  }
  return v;
}

/** Integers beyond 2^53 stay exact, as strings (JSON.parse would round them): lossless-json reads those. */
function parseExact(text: string): unknown {
  if (!/\d{16,}/.test(text)) return parseJson(text);
  parseJson(text); // the same syntax errors, located by line and column
  const { parse } = require('lossless-json') as typeof import('lossless-json');
  return parse(text, null, (v: string) => (/^-?\d+$/.test(v) && !Number.isSafeInteger(Number(v)) ? v : Number(v)));
}

function parseDoc(text: string, what: string): unknown {
  try {
    return parseExact(text);
  } catch (e) {
    throw providerError(`${what} is not JSON: ${(e as Error).message}`);
  }
}

function pick(doc: unknown, fields: Array<[string, JsonField]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of fields) {
    const v = resolvePointer(doc, f.pointer);
    if (v === undefined || v === null) {
      if (f.default !== undefined) out[name] = f.default;
      else if (v === null) out[name] = null;
      else if (!f.optional) throw providerError(`field '${name}': nothing at JSON pointer '${f.pointer}' in the output`, { field: name, pointer: f.pointer });
      continue;
    }
    out[name] = transformValue(f.transform, v, name);
  }
  return out;
}

export function applyJsonRule(rule: JsonRule, text: string): unknown {
  let doc: unknown;
  if (rule.lines) {
    doc = text
      .split('\n')
      .map((l, i) => ({ l: l.trim(), i }))
      .filter((x) => x.l !== '')
      .map((x) => parseDoc(x.l, `line ${x.i + 1} of the output`));
  } else {
    if (text.trim() === '') throw providerError('the output is empty, expected JSON');
    doc = parseDoc(text, 'the output');
  }
  if (rule.errorPointer !== undefined) checkReported(rule.lines ? (doc as unknown[]) : [doc], rule.errorPointer);
  if (rule.items !== undefined) {
    const items = resolvePointer(doc, rule.items);
    if (!Array.isArray(items)) throw providerError(`no array at JSON pointer '${rule.items}' in the output`, { pointer: rule.items });
    doc = items;
  }
  if (!rule.fields) return doc;
  const fields = rule.fields;
  if (rule.lines || rule.items !== undefined) return (doc as unknown[]).map((item) => pick(item, fields));
  return pick(doc, fields);
}
