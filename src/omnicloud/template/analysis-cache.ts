/**
 * The shell analysis of a provider file, cached per file content: every CPI call compiles the
 * provider's file, and parsing its shell code needs mvdan-sh, whose chunk costs far more to load
 * than a call like has_vm costs in all. So the first call after a file changes analyses every
 * template (every load error is still found when the file loads) and writes what it found to
 * `<cache dir>/shell-<file sha256>-<engine>.json`; later calls read that file and never load the
 * parser. The engine part of the name changes with the engine's code, so a new CPI version never
 * trusts an old analysis. The file is checked with zod when read; anything unexpected is ignored
 * and the analysis runs again.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod/mini';
import { loadChunk } from '../../runtime/chunks';
import type { ShellAnalyser } from './command';
import type { Segment } from './placeholders';
import type { Problem, ShellLang } from './programs';
import { TemplateSyntaxError, type CompiledCommand } from './shell';

const Part = z.union([
  z.strictObject({ kind: z.literal('text'), text: z.string() }),
  z.strictObject({ kind: z.literal('param'), name: z.string(), quote: z.enum(['raw', 'bare', 'dq', 'sq']), list: z.optional(z.boolean()) }),
]);
const Compiled = z.union([
  z.strictObject({ mode: z.literal('argv'), words: z.array(z.array(Part)) }),
  z.strictObject({ mode: z.literal('shell'), script: z.array(Part), reason: z.string() }),
]);
const Entry = z.union([z.strictObject({ ok: Compiled }), z.strictObject({ error: z.string() }), z.strictObject({ problems: z.array(z.strictObject({ value: z.string(), reason: z.string(), rewrite: z.string() })) })]);
const CacheFile = z.strictObject({ entries: z.record(z.string(), Entry) });
type Entry = z.output<typeof Entry>;

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

export class CachedAnalyser implements ShellAnalyser {
  private readonly entries: Record<string, Entry> = {};
  private dirty = false;
  private inner: ShellAnalyser | undefined;
  /** Whether this instance loaded the parser (tests and the benchmark check it). */
  parsed = false;

  constructor(private readonly file?: string) {
    if (!file) return;
    try {
      const parsed = CacheFile.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
      if (parsed.success) Object.assign(this.entries, parsed.data.entries);
    } catch {
      /* no cache yet */
    }
  }

  static forFile(cacheDir: string | undefined, digest: string): CachedAnalyser {
    return new CachedAnalyser(cacheDir ? path.join(cacheDir, `shell-${digest.slice(0, 32)}-${engineIdentity()}.json`) : undefined);
  }

  private get analyser(): ShellAnalyser {
    this.parsed = true;
    return (this.inner ??= parser());
  }

  private remember(key: string, e: Entry): void {
    this.entries[key] = e;
    this.dirty = true;
  }

  /** The entry under `key`, computed (and remembered, refusals too) when missing. */
  private lookup(key: string, compute: () => Entry): Entry {
    let e = this.entries[key];
    if (!e) {
      try {
        e = compute();
      } catch (err) {
        if (!(err instanceof TemplateSyntaxError)) throw err;
        e = { error: err.message };
      }
      this.remember(key, e);
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

  /** Writes what was learnt (write-then-rename: a concurrent reader sees an old or a new file). */
  save(): void {
    if (!this.file || !this.dirty) return;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ entries: this.entries }), { mode: 0o600 });
      fs.renameSync(tmp, this.file);
      this.dirty = false;
    } catch {
      /* a cache that cannot be written only costs time */
    }
  }
}
