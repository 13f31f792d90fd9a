/**
 * Runs bin/cpi and other commands synchronously for timing; a failed call aborts the benchmark.
 * In memory mode each command runs under GNU time, and the largest resident set is kept.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CPI } from '../../tests/helpers/cpi';

export const memory = { active: false, peakKB: 0 };
/** Which bin/cpi the CPI cases run: this checkout's, or (BENCH_BASELINE) another's for a before/after run. */
export const binary = { cpi: CPI };
const rssFile = path.join(os.tmpdir(), `cpi-bench-rss-${process.pid}`);

function spawn(cmd: string, args: string[], input?: string) {
  if (!memory.active) return spawnSync(cmd, args, { input, encoding: 'utf8' });
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args], { input, encoding: 'utf8' });
  const kb = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  if (Number.isFinite(kb)) memory.peakKB = Math.max(memory.peakKB, kb);
  return r;
}

export function cpi(request: unknown, args: string[] = [], expectError = false): unknown {
  const r = spawn(binary.cpi, args, typeof request === 'string' ? request : JSON.stringify(request));
  if (r.status !== 0) throw new Error(`bin/cpi exited ${r.status}: ${r.stderr}`);
  const res = JSON.parse(r.stdout) as { result: unknown; error: { type: string; message: string } | null };
  if (!expectError && res.error) throw new Error(`${JSON.stringify(request).slice(0, 80)} failed: ${res.error.type} ${res.error.message}`);
  return res.result;
}

export function sh(cmd: string, args: string[]): string {
  const r = spawn(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

export function nodeBare(): void {
  spawn(process.execPath, ['-e', '0']);
}
