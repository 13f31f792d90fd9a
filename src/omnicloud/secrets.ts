/**
 * Secret parameters and their values. A parameter is secret when a provider or action lists it in
 * `secret_params` or when its name says so (password, passphrase, secret, token, api_key,
 * access_key, private_key, credential…). Secret values — and the forms they take once encoded for a
 * URL or a JSON body — are replaced by `<redacted>` in every message, error detail, log
 * line and raw output this engine shows.
 */
import { redact, REDACTED, redactString } from '../log/redact';

// agent_settings carries the mbus URL with its password and env.bosh.mbus.cert.
const SECRET_NAME = /(pass(word|wd|phrase)?|secret|token|api_?key|access_?key|private_?key|credential|bearer|session_?key|agent_settings)/i;

/** Shorter values would blank out ordinary words. */
const MIN_LENGTH = 3;

export function isSecretName(name: string, declared: ReadonlySet<string> = new Set()): boolean {
  return declared.has(name) || SECRET_NAME.test(name);
}

export class Secrets {
  private readonly values = new Set<string>();
  private ordered: string[] | undefined;

  /** Records every string value of a secret parameter (nested strings included). */
  static fromParams(params: Readonly<Record<string, unknown>>, declared: ReadonlySet<string>): Secrets {
    const s = new Secrets();
    for (const [k, v] of Object.entries(params)) if (isSecretName(k, declared)) s.addValue(v);
    return s;
  }

  addValue(v: unknown): void {
    if (typeof v === 'number') v = String(v);
    if (typeof v === 'string') {
      if (v.length < MIN_LENGTH) return;
      for (const form of [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1)]) this.values.add(form);
      this.ordered = undefined;
    } else if (Array.isArray(v)) v.forEach((x) => this.addValue(x));
    else if (v && typeof v === 'object') Object.values(v).forEach((x) => this.addValue(x));
  }

  /** Secret-named fields of a parsed result (a token from configure_auth) are secrets from then on. */
  addFromResult(result: unknown, declared: ReadonlySet<string>, depth = 0): void {
    if (depth > 4 || result === null || typeof result !== 'object') return;
    for (const [k, v] of Object.entries(result)) {
      if (isSecretName(k, declared)) this.addValue(v);
      else this.addFromResult(v, declared, depth + 1);
    }
  }

  scrub(s: string): string {
    if (this.values.size) {
      // Longest first, so a secret containing another is replaced whole.
      this.ordered ??= [...this.values].sort((a, b) => b.length - a.length);
      for (const v of this.ordered) if (s.includes(v)) s = s.split(v).join(REDACTED);
    }
    return redactString(s);
  }

  /** A deep copy with secret values scrubbed from strings and secret-named fields hidden. */
  scrubDeep(v: unknown, declared: ReadonlySet<string> = new Set()): unknown {
    return redact(v, { str: (s) => this.scrub(s), isSecret: (k) => isSecretName(k, declared) });
  }
}
