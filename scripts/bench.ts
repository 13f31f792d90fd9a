/**
 * npm run bench: medians of CPI calls beside their floors, measured in the same run on the same
 * machine. A benchmark, not a test: it reports figures and whether targets hold, and never fails
 * a build. Runs interleave so drift in machine load hits every case alike.
 *
 *   BENCH_RUNS=40 npm run bench        # more runs
 *   BENCH_ONLY=startup npm run bench   # one section
 *   BENCH_BASELINE=/path/to/checkout npm run bench   # each CPI call beside the same call of another
 *                                      # checkout (its own setup, state and VMs), interleaved: before/after
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../tests/helpers/cpi';
import { barChart } from './bench/chart';
import { binary, memory } from './bench/process';
import { sections } from './bench/sections';
import type { Ctx, Measurement, Section } from './bench/types';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 30);
const BASELINE = process.env['BENCH_BASELINE'];
const BEFORE = ' [before]';

/** Runs `work` with the baseline checkout's bin/cpi. */
async function asBaseline<T>(work: () => T | Promise<T>): Promise<T> {
  const own = binary.cpi;
  binary.cpi = path.join(BASELINE as string, 'bin', 'cpi');
  try {
    return await work();
  } finally {
    binary.cpi = own;
  }
}

/** With a baseline, every CPI case gets a twin run by the baseline's bin/cpi on its own setup. */
function withTwins(section: Section, baseCtx: Ctx | undefined): Section['cases'] {
  if (!baseCtx) return section.cases;
  return section.cases.flatMap((c) =>
    c.cpi
      ? [c, { name: `${c.name}${BEFORE}`, floor: c.floor, before: c.before && (() => asBaseline(() => c.before?.(baseCtx))), run: () => asBaseline(() => c.run(baseCtx)), target: (ms: number, m: Map<string, number>) => delta(ms, m.get(c.name)) }]
      : [c],
  );
}

function delta(beforeMs: number, afterMs: number | undefined): { text: string; met: boolean } {
  const d = (afterMs ?? beforeMs) - beforeMs;
  return { text: `now ${d >= 0 ? '+' : ''}${d.toFixed(1)} ms (≤ +5)`, met: d <= 5 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function runSection(section: Section): Promise<Measurement[]> {
  const ctx = (await section.setup?.()) ?? {};
  const baseCtx = BASELINE && section.cases.some((c) => c.cpi) ? await asBaseline(async () => (await section.setup?.()) ?? {}) : undefined;
  const cases = withTwins(section, baseCtx);
  try {
    const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    const runs = section.runs ?? RUNS;
    const once = async (c: (typeof cases)[number]) => {
      await c.before?.(ctx);
      await c.run(ctx);
      await c.after?.(ctx);
    };
    for (const c of cases) await once(c); // warm-up
    for (let i = 0; i < runs; i++) {
      for (const c of cases) {
        await c.before?.(ctx);
        const t = process.hrtime.bigint();
        await c.run(ctx);
        samples.get(c.name)!.push(Number(process.hrtime.bigint() - t) / 1e6);
        await c.after?.(ctx);
      }
    }
    const medians = new Map([...samples].map(([k, v]) => [k, median(v)]));
    // One more run of each case under GNU time, outside the timed runs.
    const peaks = new Map<string, number>();
    for (const c of cases) {
      await c.before?.(ctx);
      memory.active = true;
      memory.peakKB = 0;
      try {
        await c.run(ctx);
      } finally {
        memory.active = false;
      }
      await c.after?.(ctx);
      peaks.set(c.name, memory.peakKB / 1024);
    }
    return cases.map((c) => {
      const ms = medians.get(c.name)!;
      const floorMs = c.floor ? medians.get(c.floor) : undefined;
      const m: Measurement = { section: section.title, name: c.name, ms, runs, peakMb: peaks.get(c.name) };
      if (c.floor && floorMs !== undefined) {
        m.floor = c.floor;
        m.floorMs = floorMs;
        m.ratio = ms / floorMs;
      }
      if (c.target) {
        const t = c.target(ms, medians);
        m.target = t.text;
        m.met = t.met;
      }
      return m;
    });
  } finally {
    await section.teardown?.(ctx);
    if (baseCtx) await asBaseline(() => section.teardown?.(baseCtx));
  }
}

function table(ms: Measurement[]): string {
  const rows = ms.map((m) => {
    const cells = [
      m.name,
      m.ms.toFixed(1),
      m.floor ?? '',
      m.floorMs !== undefined ? m.floorMs.toFixed(1) : '',
      m.ratio !== undefined ? `${m.ratio.toFixed(2)}×` : '',
      m.peakMb ? m.peakMb.toFixed(0) : '',
      m.target ? `${m.target} ${m.met ? '✅' : '❌'}` : '',
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return ['| measurement | median ms | floor | floor ms | ratio | peak RSS MB | target |', '|---|---:|---|---:|---:|---:|---|', ...rows].join('\n');
}

/** The README shows the latest full run, between its bench markers. */
function updateReadme(md: string): void {
  const file = path.join(ROOT, 'README.md');
  const text = fs.readFileSync(file, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  fs.writeFileSync(file, `${text.slice(0, a + start.length)}\n${md}${text.slice(b)}`);
}

async function main(): Promise<void> {
  const only = process.env['BENCH_ONLY'];
  const chosen = sections.filter((s) => !only || s.key === only);
  const all: Measurement[] = [];
  for (const s of chosen) {
    process.stderr.write(`bench: ${s.title} (${s.runs ?? RUNS} runs)…\n`);
    all.push(...(await runSection(s)));
  }
  const node = spawnSync(process.execPath, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const dockerV = spawnSync('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'], { encoding: 'utf8' }).stdout.trim();
  const header = `Medians of ${RUNS} interleaved runs on ${new Date().toISOString().slice(0, 10)}, node ${node}, Docker ${dockerV || 'n/a'}, ${require('node:os').cpus().length} CPUs.`;
  const md = `${header}\n\n${table(all)}\n`;
  fs.mkdirSync(path.join(ROOT, '.bench'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, '.bench', 'latest.md'), md);
  fs.writeFileSync(path.join(ROOT, '.bench', 'latest.json'), JSON.stringify(all, null, 2));
  const bars = all.filter((m) => m.floor).map((m) => ({ label: m.name, ms: m.ms, floorLabel: m.floor, floorMs: m.floorMs }));
  fs.writeFileSync(path.join(ROOT, '.bench', 'latest.png'), barChart('BOSH CONTAINER CPI: CALLS BESIDE THEIR FLOORS', bars));
  if (!only) updateReadme(md);
  process.stdout.write(md);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
