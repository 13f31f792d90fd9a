/**
 * What loading a provider file found, cached per file content: every CPI call loads the
 * provider's file, and parsing its shell code needs mvdan-sh, whose chunk costs far more to load
 * than a call like has_vm costs in all. So the first call after a file changes analyses every
 * template (every load error is still found when the file loads) and writes what it found to
 * `<cache dir>/shell-<file sha256>-<engine>.json`; later calls read that file and never load the
 * parser. Once the whole file has loaded without a problem, `verified-<file sha256>-<engine>.json`
 * says so (with the load's warnings): later calls then skip the checks that passed — the schema,
 * every regex — and compile only the actions they run (provider/load.ts), reading the analysis
 * only if one of those needs it. The engine part of the name
 * changes with the engine's code, so a new CPI version never trusts an old analysis. The files are
 * checked with zod when read; anything unexpected is ignored and the analysis runs again.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { loadChunk } from '../../runtime/chunks';
import { readJson, writeJson } from '../cache-files';
import type { ShellAnalyser } from './command';
import type { Segment } from './placeholders';
import type { Problem, ShellLang } from './programs';
import { TemplateSyntaxError, type CompiledCommand } from './shell';

/** The cache file's schema, built on first read (zod schemas cost time to construct). */
function cacheSchema() {
  const Part = z.union([
    z.strictObject({ kind: z.literal('text'), text: z.string() }),
    z.strictObject({ kind: z.literal('param'), name: z.string(), quote: z.enum(['raw', 'bare', 'dq', 'sq']), list: z.optional(z.boolean()) }),
  ]);
  const Compiled = z.union([
    z.strictObject({ mode: z.literal('argv'), words: z.array(z.array(Part)) }),
    z.strictObject({ mode: z.literal('shell'), script: z.array(Part), reason: z.string() }),
  ]);
  const Entry = z.union([z.strictObject({ ok: Compiled }), z.strictObject({ error: z.string() }), z.strictObject({ problems: z.array(z.strictObject({ value: z.string(), reason: z.string(), rewrite: z.string() })) })]);
  return z.strictObject({ entries: z.record(z.string(), Entry) });
}
let schema: ReturnType<typeof cacheSchema> | undefined;
type Entry = z.output<ReturnType<typeof cacheSchema>>['entries'][string];

let engineId: string | undefined;
/** Identifies this engine's code: its file's size and mtime (the bundle's, or the source's under jest). */
function engineIdentity(): string {
  if (engineId === undefined) {
    let stamp = 'unknown';
    try {
      const st = fs.statSync(__filename);
      stamp = `${st.size}-${st.mtimeMs}`;
    } catch {
      /* no file: an id that never matches an earlier one */
      stamp = `${process.pid}-${Date.now()}`;
    }
    engineId = createHash('sha256').update(`omni-shell-1:${stamp}`).digest('hex').slice(0, 12);
  }
  return engineId;
}

/** The parser chunk's analysis, loaded on first need. */
function parser(): ShellAnalyser {
  const m = loadChunk('shellParser');
  return { template: (_t, segments, opts) => m.analyseTemplate(segments, opts), script: (code, lang, positional) => m.analyseScript(code, lang, positional) };
}

const Verified = z.strictObject({ warnings: z.array(z.string()) });

export class CachedAnalyser implements ShellAnalyser {
  /** Read on the first lookup: a call whose templates are plain words never reads it. */
  private entries: Record<string, Entry> | undefined;
  private dirty = false;
  private verifiedNow = false;
  /** Set when every check of the file passed with this engine: the load's warnings. */
  verified: { warnings: string[] } | undefined;
  private inner: ShellAnalyser | undefined;
  /** Whether this instance loaded the parser (tests and the benchmark check it). */
  parsed = false;

  /** `file`: the analysis (shell-….json); `marker`: the verified mark (verified-….json). */
  constructor(
    private readonly file?: string,
    private readonly marker?: string,
  ) {
    if (!marker) return;
    const v = Verified.safeParse(readJson(marker));
    if (v.success) this.verified = v.data;
  }

  static forFile(cacheDir: string | undefined, digest: string): CachedAnalyser {
    if (!cacheDir) return new CachedAnalyser();
    const id = `${digest.slice(0, 32)}-${engineIdentity()}.json`;
    return new CachedAnalyser(path.join(cacheDir, `shell-${id}`), path.join(cacheDir, `verified-${id}`));
  }

  private get analyser(): ShellAnalyser {
    this.parsed = true;
    return (this.inner ??= parser());
  }

  private load(): Record<string, Entry> {
    if (this.entries) return this.entries;
    this.entries = {};
    if (this.file) {
      const parsed = (schema ??= cacheSchema()).safeParse(readJson(this.file));
      if (parsed.success) Object.assign(this.entries, parsed.data.entries);
    }
    return this.entries;
  }

  /** The entry under `key`, computed (and remembered, refusals too) when missing. */
  private lookup(key: string, compute: () => Entry): Entry {
    const entries = this.load();
    let e = entries[key];
    if (!e) {
      try {
        e = compute();
      } catch (err) {
        if (!(err instanceof TemplateSyntaxError)) throw err;
        e = { error: err.message };
      }
      entries[key] = e;
      this.dirty = true;
    }
    if ('error' in e) throw new TemplateSyntaxError(e.error);
    return e;
  }

  template(template: string, segments: readonly Segment[], opts: { shell?: boolean }): CompiledCommand {
    const key = JSON.stringify(['t', template, opts.shell ?? null]);
    return (this.lookup(key, () => ({ ok: this.analyser.template(template, segments, opts) })) as { ok: CompiledCommand }).ok;
  }

  script(code: string, lang: ShellLang, positional: ReadonlyArray<readonly string[]>): Problem[] {
    const key = JSON.stringify(['s', code, lang, positional]);
    return (this.lookup(key, () => ({ problems: this.analyser.script(code, lang, positional) })) as { problems: Problem[] }).problems;
  }

  /** Records that the whole file loaded without a problem (see provider/load.ts). */
  markVerified(warnings: readonly string[]): void {
    if (this.verified) return;
    this.verified = { warnings: [...warnings] };
    this.verifiedNow = true;
  }

  /** Writes what was learnt: the analysis first, then the mark that trusts it. */
  save(): void {
    if (this.file && this.dirty && this.entries) writeJson(this.file, { entries: this.entries });
    this.dirty = false;
    if (this.marker && this.verifiedNow && this.verified) writeJson(this.marker, this.verified);
    this.verifiedNow = false;
  }
}
