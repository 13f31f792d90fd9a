/**
 * Secret parameters and their values. A parameter is secret when a provider or action lists it in
 * `secret_params` or when its name says so (password, passphrase, secret, token, api_key,
 * access_key, private_key, credential…). Secret values — and the forms they take once encoded for a
 * URL or a JSON body — are replaced by `<redacted>` in every message, error detail, log
 * line and raw output this engine shows.
 */
import { isSecretKey, redact, REDACTED, redactString } from '../log/redact';

const SECRET_NAME = /(pass(word|wd|phrase)?|secret|token|api_?key|access_?key|private_?key|credential|bearer|session_?key)/i;

/**
 * The agent settings document is not a secret as a whole — its agent id and VM name must stay
 * readable in messages — but it carries secrets: the mbus URL's password, env.bosh.password,
 * env.bosh.mbus.cert.*, blobstore passwords. Those values become secrets.
 */
const AGENT_SETTINGS = /^agent_settings(_json)?$/;

function settingsSecrets(v: unknown, out: Set<string>, secretBranch = false, depth = 0): void {
  if (depth > 12) return;
  if (typeof v === 'string') {
    if (secretBranch) out.add(v);
    const pw = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:([^@\s"']+)@/i.exec(v)?.[1];
    if (pw) out.add(pw);
  } else if (Array.isArray(v)) v.forEach((x) => settingsSecrets(x, out, secretBranch, depth + 1));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) settingsSecrets(x, out, secretBranch || isSecretKey(k), depth + 1);
}

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
    for (const [k, v] of Object.entries(params)) {
      if (AGENT_SETTINGS.test(k)) {
        const found = new Set<string>();
        let doc = v;
        if (typeof v === 'string') {
          try {
            doc = JSON.parse(v);
          } catch {
            /* not JSON: its URLs still count */
          }
        }
        settingsSecrets(doc, found);
        found.forEach((x) => s.addValue(x));
      } else if (isSecretName(k, declared)) s.addValue(v);
    }
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
