/**
 * Runs one program: its own process group (so a timeout kills the children a script started too),
 * STDIN on /dev/null (a CLI that prompts gets EOF instead of hanging), an explicit environment,
 * and capped output. Output is kept as bytes and decoded once, so a cap never splits a character
 * into an exception.
 */
import { spawn } from 'node:child_process';
import { OmniError, providerError } from '../errors';

export interface ProcessSpec {
  file: string;
  args: string[];
  env: Readonly<Record<string, string>>;
  cwd?: string;
  timeoutMs: number;
  /** stdout beyond this is an error: a parse of cut output would be wrong. */
  maxStdoutBytes: number;
  /** stderr beyond this is dropped (its head is kept for the error message). */
  maxStderrBytes: number;
  /** Grace between SIGTERM and SIGKILL on timeout. */
  killGraceMs?: number;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stderrTruncated: boolean;
  ms: number;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

export function runProcess(spec: ProcessSpec): Promise<ProcessResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(spec.file, spec.args, {
        env: spec.env,
        cwd: spec.cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        windowsHide: true,
      });
    } catch (e) {
      reject(providerError(`cannot start '${spec.file}': ${(e as Error).message}`, { program: spec.file }));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let stderrTruncated = false;
    let failure: OmniError | undefined;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;

    const stop = (why: OmniError) => {
      if (failure) return;
      failure = why;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), spec.killGraceMs ?? 2000);
      killTimer.unref();
    };

    const timer = setTimeout(() => {
      stop(new OmniError('TimeoutError', `'${spec.file}' did not finish within ${Math.round(spec.timeoutMs / 100) / 10} s and was killed`, { program: spec.file, timeout_seconds: spec.timeoutMs / 1000 }));
    }, spec.timeoutMs);

    child.stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > spec.maxStdoutBytes) {
        stop(providerError(`'${spec.file}' wrote more than ${spec.maxStdoutBytes} bytes of output and was stopped`, { program: spec.file, max_output_bytes: spec.maxStdoutBytes }));
        return;
      }
      out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      const room = spec.maxStderrBytes - errBytes;
      if (room <= 0) {
        stderrTruncated = true;
        return;
      }
      const kept = c.length > room ? c.subarray(0, room) : c;
      if (kept.length < c.length) stderrTruncated = true;
      err.push(kept);
      errBytes += kept.length;
    });

    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      f();
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? 'not found (is it installed and on PATH?)' : e.code === 'EACCES' ? 'not executable' : e.message;
      finish(() => reject(providerError(`cannot run '${spec.file}': ${why}`, { program: spec.file })));
    });
    child.on('close', (code, signal) => {
      finish(() => {
        // Whatever the leader left behind in its group goes with it.
        if (failure) killGroup(child.pid, 'SIGKILL');
        if (failure) {
          failure.details['stderr'] = Buffer.concat(err).toString('utf8');
          reject(failure);
          return;
        }
        resolve({
          exitCode: code,
          signal,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          stderrTruncated,
          ms: Date.now() - started,
        });
      });
    });
  });
}
