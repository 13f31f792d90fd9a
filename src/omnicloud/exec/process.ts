/**
 * Runs one program: its own process group, STDIN on /dev/null (a CLI that prompts gets EOF
 * instead of hanging), an explicit environment, and capped output. Output is kept as bytes and
 * decoded once, so a cap never splits a character into an exception.
 *
 * The deadline is hard. At it the process group gets SIGTERM, then SIGKILL after a short grace,
 * and so does every process that carries the run's tag in its environment (`OMNI_RUN=<uuid>`):
 * that catches descendants that left the group (`setsid sleep 1000 &`, a daemonizing CLI). The
 * call then fails with TimeoutError at once — it does not wait for a pipe a descendant still
 * holds. A program that exits while a descendant keeps its stdout open is waited for only up to
 * the deadline.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
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

const TAG = 'OMNI_RUN';

function kill(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

/** Processes whose environment carries the run's tag (readable for our own user's processes). */
export function taggedProcesses(tag: string): number[] {
  const needle = Buffer.from(`${TAG}=${tag}\0`);
  const out: number[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`).includes(needle)) out.push(Number(pid));
    } catch {
      /* gone, or not ours */
    }
  }
  return out;
}

/** Signals the group and every tagged process; returns how many were still there. */
function killRun(pid: number | undefined, tag: string, signal: NodeJS.Signals): number {
  let n = 0;
  if (pid !== undefined && kill(-pid, signal)) n++;
  for (const p of taggedProcesses(tag)) if (kill(p, signal)) n++;
  return n;
}

/** TERM to the run now, KILL after the grace (sooner once all are gone); `done` when none is left (or after 1 s of KILLs). */
function terminate(child: ChildProcess, tag: string, graceMs: number, schedule: (t: NodeJS.Timeout) => void, done: () => void): void {
  killRun(child.pid, tag, 'SIGTERM');
  const termUntil = Date.now() + graceMs;
  let killedAt = 0;
  const poll = () => {
    const leader = child.exitCode === null && child.signalCode === null ? 1 : 0;
    const left = leader + taggedProcesses(tag).length;
    if (left > 0 && !killedAt && Date.now() < termUntil) return schedule(setTimeout(poll, 25));
    if (left > 0 && !killedAt) killedAt = Date.now();
    if (left > 0 && Date.now() - killedAt < 1000) {
      killRun(child.pid, tag, 'SIGKILL');
      return schedule(setTimeout(poll, 10));
    }
    done();
  };
  schedule(setTimeout(poll, 10));
}

type Child = ChildProcess & { stdout: NodeJS.ReadableStream & { destroy(): void }; stderr: NodeJS.ReadableStream & { destroy(): void } };

/** Starts the program in a group of its own, tagged; throws ProviderError when it cannot start. */
function start(spec: ProcessSpec, tag: string): Child {
  // child_process only for the calls that run a command (an Endpoint provider never does).
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  try {
    return spawn(spec.file, spec.args, {
      env: { ...spec.env, [TAG]: tag },
      cwd: spec.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      windowsHide: true,
    }) as Child;
  } catch (e) {
    throw providerError(`cannot start '${spec.file}': ${(e as Error).message}`, { program: spec.file });
  }
}

/** A program's output as bytes: stdout up to its cap (beyond it, `overflow` is called), stderr's head. */
class Output {
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];
  private outBytes = 0;
  private errBytes = 0;
  stderrTruncated = false;

  constructor(child: Child, spec: ProcessSpec, overflow: () => void) {
    child.stdout.on('data', (c: Buffer) => {
      this.outBytes += c.length;
      if (this.outBytes > spec.maxStdoutBytes) return overflow();
      this.out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      const room = spec.maxStderrBytes - this.errBytes;
      const kept = room <= 0 ? c.subarray(0, 0) : c.length > room ? c.subarray(0, room) : c;
      if (kept.length < c.length) this.stderrTruncated = true;
      if (kept.length) this.err.push(kept);
      this.errBytes += kept.length;
    });
  }

  stdout(): string {
    return Buffer.concat(this.out).toString('utf8');
  }

  stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }
}

function startFailure(spec: ProcessSpec, e: NodeJS.ErrnoException): OmniError {
  const why = e.code === 'ENOENT' ? 'not found (is it installed and on PATH?)' : e.code === 'EACCES' ? 'not executable' : e.message;
  return providerError(`cannot run '${spec.file}': ${why}`, { program: spec.file });
}

export function runProcess(spec: ProcessSpec): Promise<ProcessResult> {
  const started = Date.now();
  const tag = randomUUID();
  return new Promise((resolve, reject) => {
    let child: Child;
    try {
      child = start(spec, tag);
    } catch (e) {
      reject(e);
      return;
    }
    let failure: OmniError | undefined;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      f();
    };
    /** Ends the run: every process of it gone (terminate), then the call fails with `why`. */
    const stop = (why: OmniError) => {
      if (failure) return;
      failure = why;
      clearTimeout(timer);
      terminate(child, tag, spec.killGraceMs ?? 2000, (t) => (killTimer = t), () => {
        // Whoever still holds the pipes, the call is over.
        child.stdout.destroy();
        child.stderr.destroy();
        finish(() => {
          why.details['stderr'] = output.stderr();
          reject(why);
        });
      });
    };
    const timer = setTimeout(() => {
      stop(new OmniError('TimeoutError', `'${spec.file}' did not finish within ${Math.round(spec.timeoutMs / 100) / 10} s and was killed`, { program: spec.file, timeout_seconds: spec.timeoutMs / 1000 }));
    }, spec.timeoutMs);
    const output = new Output(child, spec, () =>
      stop(providerError(`'${spec.file}' wrote more than ${spec.maxStdoutBytes} bytes of output and was stopped`, { program: spec.file, max_output_bytes: spec.maxStdoutBytes })),
    );
    child.on('error', (e: NodeJS.ErrnoException) => finish(() => reject(startFailure(spec, e))));
    child.on('close', (code, signal) => {
      // A stopped run settles in stop(), after its processes are gone.
      if (failure) return;
      finish(() => resolve({ exitCode: code, signal, stdout: output.stdout(), stderr: output.stderr(), stderrTruncated: output.stderrTruncated, ms: Date.now() - started }));
    });
  });
}
