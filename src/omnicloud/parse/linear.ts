/**
 * Linear-time regular expressions for everything a provider file matches against outside input
 * (parse rules, error rules, param_patterns): re2js, the JavaScript port of RE2. Matching takes
 * time linear in the input whatever the pattern, so `^(a+)+$` cannot hang a call the way it does
 * with a backtracking engine (14 s on 28 characters). What RE2 cannot express — backreferences,
 * lookahead and lookbehind — is refused when the provider loads, naming the pattern.
 */
import type { RE2JS as RE2JSType } from 're2js';

type Engine = typeof RE2JSType;
let engine: Engine | undefined;
function re2(): Engine {
  // Loaded on the first pattern only: a provider without regexes never pays for it.
  return (engine ??= (require('re2js') as { RE2JS: Engine }).RE2JS);
}

export interface Match {
  index: number;
  end: number;
  /** Group 0 (the whole match) and each capture group; undefined where a group did not take part. */
  groups: Array<string | undefined>;
  named: Record<string, string | undefined>;
}

export class LinearRegex {
  private compiled: { re: RE2JSType; groups: number; names: Readonly<Record<string, number>> } | undefined;

  private constructor(
    readonly source: string,
    readonly flags: string,
  ) {}

  /** Compiles `source` with flags from `ims` now; throws SyntaxError naming the pattern and why. */
  static compile(source: string, flags = ''): LinearRegex {
    const r = new LinearRegex(source, flags);
    r.program();
    return r;
  }

  /**
   * A pattern already known to compile (it did when its provider file was verified, see
   * provider/load-cache.ts), compiled on first use: a call pays only for the patterns it matches.
   */
  static deferred(source: string, flags = ''): LinearRegex {
    return new LinearRegex(source, flags);
  }

  private program(): { re: RE2JSType; groups: number; names: Readonly<Record<string, number>> } {
    if (this.compiled) return this.compiled;
    const R = re2();
    let f = 0;
    if (this.flags.includes('i')) f |= R.CASE_INSENSITIVE;
    if (this.flags.includes('m')) f |= R.MULTILINE;
    if (this.flags.includes('s')) f |= R.DOTALL;
    let re: RE2JSType;
    try {
      re = R.compile(this.source, f);
    } catch (e) {
      const why = (e as Error).message.replace(/^error parsing regexp: /, '');
      throw new SyntaxError(`the pattern /${this.source}/ cannot be used: the linear-time regex engine (RE2 syntax) refuses it: ${why}`);
    }
    return (this.compiled = { re, groups: re.groupCount(), names: { ...(re.namedGroups() as Record<string, number>) } });
  }

  /** The number of capture groups. */
  get groups(): number {
    return this.program().groups;
  }

  exec(text: string, from = 0): Match | null {
    const p = this.program();
    const m = p.re.matcher(text);
    if (!m.find(from)) return null;
    const groups: Array<string | undefined> = [];
    for (let g = 0; g <= p.groups; g++) groups.push(m.group(g) ?? undefined);
    const named: Record<string, string | undefined> = {};
    for (const [name, g] of Object.entries(p.names)) named[name] = groups[g];
    return { index: m.start(), end: m.end(), groups, named };
  }

  test(text: string): boolean {
    return this.program().re.matcher(text).find();
  }

  /** `text` cut at every match (an empty match cuts nothing, as String.prototype.split does). */
  split(text: string): string[] {
    const out: string[] = [];
    let last = 0;
    let from = 0;
    while (from <= text.length) {
      const m = this.exec(text, from);
      if (!m) break;
      if (m.end === m.index) {
        from = m.end + 1;
        continue;
      }
      out.push(text.slice(last, m.index));
      last = m.end;
      from = m.end;
    }
    out.push(text.slice(last));
    return out;
  }
}
