/** Runs bin/cpi and other commands synchronously for timing; a failed call aborts the benchmark. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CPI = path.join(ROOT, 'bin', 'cpi');

export function cpi(request: unknown, args: string[] = [], expectError = false): unknown {
  const r = spawnSync(CPI, args, { input: typeof request === 'string' ? request : JSON.stringify(request), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bin/cpi exited ${r.status}: ${r.stderr}`);
  const res = JSON.parse(r.stdout) as { result: unknown; error: { type: string; message: string } | null };
  if (!expectError && res.error) throw new Error(`${JSON.stringify(request).slice(0, 80)} failed: ${res.error.type} ${res.error.message}`);
  return res.result;
}

export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}
