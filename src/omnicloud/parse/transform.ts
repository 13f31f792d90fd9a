/**
 * Transforms of captured values. Unlike the original engine, `boolean` does not call every
 * non-empty text true, and `number` keeps integers integers.
 */
import { providerError, truncateText } from '../errors';

export const TRANSFORMS = ['string', 'boolean', 'number', 'json'] as const;
/** JSON fields also take `keys`: an object's keys, sorted (e.g. the disks of a settings document). */
export const JSON_TRANSFORMS = [...TRANSFORMS, 'keys'] as const;
export type Transform = (typeof JSON_TRANSFORMS)[number];

const TRUE = /^(true|yes|y|on|1)$/i;
const FALSE = /^(false|no|n|off|0|)$/i;
const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function fail(field: string, what: string, text: string): never {
  throw providerError(`field '${field}': cannot read ${JSON.stringify(truncateText(text, 60))} as ${what}`, { field });
}

function textToBoolean(text: string, field: string): boolean {
  const t = text.trim();
  if (TRUE.test(t)) return true;
  if (FALSE.test(t)) return false;
  return fail(field, 'a boolean (true/false, yes/no, on/off, 1/0)', text);
}

/** Integers stay integers; one beyond 2^53 stays a string rather than losing digits. */
function textToNumber(text: string, field: string): number | string {
  const t = text.trim();
  if (INTEGER.test(t)) {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : t;
  }
  if (DECIMAL.test(t)) return Number(t);
  return fail(field, 'a number', text);
}

function textToJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fail(field, 'JSON', text);
  }
}

/** Applies a transform to text captured by a regex. */
export function transformText(t: Transform | undefined, text: string, field: string): unknown {
  switch (t) {
    case 'boolean':
      return textToBoolean(text, field);
    case 'number':
      return textToNumber(text, field);
    case 'json':
      return textToJson(text, field);
    default:
      return text;
  }
}

/** Applies a transform to a value read from JSON output. */
export function transformValue(t: Transform | undefined, v: unknown, field: string): unknown {
  if (t === undefined) return v;
  if (t === 'string') return typeof v === 'string' ? v : v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (t === 'boolean') return typeof v === 'boolean' ? v : textToBoolean(String(v), field);
  if (t === 'number') return typeof v === 'number' ? v : textToNumber(String(v), field);
  if (t === 'keys') {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw providerError(`field '${field}': expected an object to take the keys of, got ${truncateText(JSON.stringify(v), 60)}`, { field });
    return Object.keys(v).sort();
  }
  return typeof v === 'string' ? textToJson(v, field) : v;
}
