/**
 * Redaction of secrets before anything reaches STDERR or the response `log`.
 *
 * Callers pass mbus URLs with passwords, TLS keys, env.bosh certificates and blobstore
 * credentials; the Director only redacts its own request log, so the CPI must do the same.
 */
import { DIRECTOR_CONTEXT_KEYS } from '../rpc/context';

export const REDACTED = '<redacted>';

/** Key names whose values are secrets wherever they appear. */
const SECRET_KEY =
  /(pass(word|wd|phrase)?|secret|token|credential|private|cert|certificate|auth|authorization|cookie|session|signature)|(^|[_-])key$|^key$|^ca$|apikey$/i;

/** `scheme://user:password@host` → `scheme://user:<redacted>@host` */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^@\s"']*@/gi;
const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function redactString(s: string): string {
  return s.replace(URL_USERINFO, `$1:${REDACTED}@`).replace(PEM_BLOCK, REDACTED);
}

/** What redact does to a string and which keys it hides; the defaults are the CPI's own rules. */
export interface RedactHooks {
  str?: (s: string) => string;
  isSecret?: (key: string) => boolean;
}

/** Deep copy of `value` with secret-looking keys and embedded credentials replaced. */
export function redact(value: unknown, hooks: RedactHooks = {}, depth = 0): unknown {
  if (depth > 32) return '<too deep>';
  if (typeof value === 'string') return (hooks.str ?? redactString)(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, hooks, depth + 1));
  if (value && typeof value === 'object') {
    const isSecret = hooks.isSecret ?? isSecretKey;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = isSecret(k) && v !== null && v !== '' ? REDACTED : redact(v, hooks, depth + 1);
    }
    return out;
  }
  return value;
}

/** A request as it may be logged: cpi-config properties in `context` are hidden entirely. */
export function redactRequest(req: { method: string; arguments: unknown[]; context: Record<string, unknown>; api_version?: number }): unknown {
  const context: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req.context)) context[k] = DIRECTOR_CONTEXT_KEYS.has(k) ? v : REDACTED;
  return { method: req.method, arguments: redact(req.arguments), context, api_version: req.api_version };
}
