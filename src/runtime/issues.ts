/**
 * Turns zod issues into messages an operator can act on: where (a path), what was expected and
 * what kind of value was found. Values themselves are never quoted: they may be secrets.
 */
import type { core } from 'zod/mini';

type Issue = core.$ZodIssue;

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  record: 'an object',
  array: 'an array',
  tuple: 'an array',
  null: 'null',
  nonoptional: 'a value',
};

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const s = String(p);
      out += /^[A-Za-z_][A-Za-z0-9_-]*$/.test(s) ? (out ? '.' : '') + s : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** One message for one issue, without its location. */
export function describeIssue(issue: Issue, root: unknown): string {
  const found = valueAt(root, issue.path);
  switch (issue.code) {
    case 'invalid_type': {
      if (found === undefined) return `is required (${EXPECTED[issue.expected] ?? issue.expected})`;
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeType(found)}`;
    }
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    case 'too_small': {
      const n = String(issue.minimum);
      if (issue.origin === 'string') return issue.minimum === 1 ? 'must not be empty' : `must have at least ${n} characters`;
      if (issue.origin === 'array') return `must have at least ${n} items`;
      return `must be ${issue.inclusive === false ? 'greater than' : 'at least'} ${n}`;
    }
    case 'too_big': {
      const n = String(issue.maximum);
      if (issue.origin === 'string') return `must have at most ${n} characters`;
      if (issue.origin === 'array') return `must have at most ${n} items`;
      return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${n}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return `must be a valid ${issue.format}`;
    case 'invalid_union':
      return 'does not match any accepted form' + (found === undefined ? '' : ` (got ${describeType(found)})`);
    case 'invalid_key':
      return 'has an invalid key';
    case 'invalid_element':
      return 'has an invalid element';
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'custom':
    default:
      return issue.message && issue.message !== 'Invalid input' ? issue.message : 'is invalid';
  }
}

/** `prefix at path: message; prefix at path2: message2` for every issue (first few only). */
export function formatIssues(issues: readonly Issue[], root: unknown, prefix: string, max = 5): string {
  const parts = issues.slice(0, max).map((issue) => {
    const where = formatPath(issue.path);
    return `${prefix}${where ? (prefix ? ' ' : '') + where : ''}: ${describeIssue(issue, root)}`;
  });
  if (issues.length > max) parts.push(`and ${issues.length - max} more problem(s)`);
  return parts.join('; ');
}
