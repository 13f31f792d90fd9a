/**
 * Classifies a failed command or HTTP call into an error category, through the action's and then
 * the provider's `error_rules` (first match wins; every condition a rule states must hold), then
 * built-in defaults for HTTP statuses. A rule matches on exit codes, HTTP statuses and/or a regex
 * over stderr (Command), the response body (Endpoint) and stdout.
 */
import type { Category } from './errors';
import { LinearRegex } from './parse/linear';
import { splitInlineFlags } from './parse/regex';
import type { ErrorRule } from './provider/schema';

export interface CompiledErrorRule {
  category: Category;
  exitCodes?: readonly number[];
  httpStatus?: readonly number[];
  pattern?: LinearRegex;
  message?: string;
}

export type Failure =
  | { kind: 'command'; exitCode: number | null; stderr: string; stdout: string }
  | { kind: 'http'; status: number; body: string }
  /** An error the output reported in-band (a json rule's error_pointer): only patterns can match it. */
  | { kind: 'reported'; text: string };

/** Throws SyntaxError for a pattern RE2 refuses; `checked`: known to compile, compiled on first use. */
export function compileErrorRule(r: ErrorRule, checked = false): CompiledErrorRule {
  const out: CompiledErrorRule = { category: r.category as Category };
  if (r.exit_codes) out.exitCodes = r.exit_codes;
  if (r.http_status) out.httpStatus = r.http_status;
  if (r.pattern !== undefined) {
    const { source, flags } = splitInlineFlags(r.pattern, undefined);
    out.pattern = checked ? LinearRegex.deferred(source, flags) : LinearRegex.compile(source, flags);
  }
  if (r.message !== undefined) out.message = r.message;
  return out;
}

function matches(rule: CompiledErrorRule, f: Failure): boolean {
  if (rule.exitCodes && (f.kind !== 'command' || f.exitCode === null || !rule.exitCodes.includes(f.exitCode))) return false;
  if (rule.httpStatus && (f.kind !== 'http' || !rule.httpStatus.includes(f.status))) return false;
  if (f.kind === 'reported' && !rule.pattern) return false;
  if (rule.pattern) {
    const text = f.kind === 'command' ? `${f.stderr}\n${f.stdout}` : f.kind === 'http' ? f.body : f.text;
    if (!rule.pattern.test(text)) return false;
  }
  return true;
}

function httpDefault(status: number): Category {
  if (status === 401 || status === 403) return 'AuthenticationError';
  if (status === 404 || status === 410) return 'ResourceNotFoundError';
  if (status === 429) return 'RateLimitError';
  if (status === 400 || status === 422) return 'ValidationError';
  if (status === 402 || status === 507) return 'QuotaExceededError';
  return 'ProviderError';
}

export function classify(f: Failure, rules: readonly CompiledErrorRule[]): { category: Category; message?: string } {
  for (const r of rules) if (matches(r, f)) return r.message === undefined ? { category: r.category } : { category: r.category, message: r.message };
  return { category: f.kind === 'http' ? httpDefault(f.status) : 'ProviderError' };
}
