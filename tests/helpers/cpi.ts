/** Drives bin/cpi as the Director does: a fresh process per request, JSON on STDIN. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { leakedSecrets } from './secrets';

// Two levels up, from tests/helpers/ here and from tmp/scripts/, where scripts/run-ts.mjs bundles
// the scripts (scripts/*.ts) that import this.
export const ROOT = path.resolve(__dirname, '..', '..');
export const CPI = path.join(ROOT, 'bin', 'cpi');
/** What the Director leaves in a CPI's environment. */
export const DIRECTOR_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export interface CpiResponse {
  result: unknown;
  error: null | { type: string; message: string; ok_to_retry: boolean };
  log: string;
}

export interface CpiRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed; throws with the raw output when it is not one JSON object. */
  response: CpiResponse;
}

export interface RunOptions {
  args?: string[];
  env?: Record<string, string | undefined>;
  /** Replace the environment entirely instead of extending this process's. */
  cleanEnv?: boolean;
  /** A command that runs bin/cpi (e.g. setpriv … to run it as another user). */
  wrapper?: string[];
}

export function runRaw(stdin: string | Buffer, opts: RunOptions = {}): Promise<CpiRun> {
  // Every suite runs the CPI at debug level, and every run is checked for leaked secrets.
  const env: Record<string, string | undefined> = opts.cleanEnv ? { ...opts.env } : { ...process.env, BOSH_CPI_LOG_LEVEL: 'debug', ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = opts.wrapper ?? [];
    const child = cmd
      ? spawn(cmd, [...pre, CPI, ...(opts.args ?? [])], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(CPI, opts.args ?? [], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.stdin.on('error', () => {
      /* the CPI may stop reading early (request too large) */
    });
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const leaked = leakedSecrets(stdout + stderr);
      if (leaked.length) {
        reject(new Error(`bin/cpi leaked secrets (${leaked.join(', ')}).\nstdout: ${stdout.slice(0, 2000)}\nstderr: ${stderr.slice(0, 4000)}`));
        return;
      }
      const run = { code, signal, stdout, stderr } as CpiRun;
      Object.defineProperty(run, 'response', {
        get(): CpiResponse {
          try {
            return JSON.parse(stdout) as CpiResponse;
          } catch {
            throw new Error(`bin/cpi did not print one JSON object.\nstdout: ${stdout}\nstderr: ${stderr}`);
          }
        },
      });
      resolve(run);
    });
    child.stdin.end(stdin);
  });
}

export interface Request {
  method: string;
  arguments: unknown[];
  context?: Record<string, unknown>;
  api_version?: number;
}

export async function call(req: Request, opts: RunOptions = {}): Promise<CpiRun> {
  const body = { context: { director_uuid: 'test-director' }, api_version: 2, ...req };
  return runRaw(JSON.stringify(body), opts);
}

/** Calls a method and returns its result, failing the test on a CPI error. */
export async function ok<T = unknown>(req: Request, opts: RunOptions = {}): Promise<T> {
  const run = await call(req, opts);
  const r = run.response;
  if (r.error) throw new Error(`${req.method} failed: ${r.error.type}: ${r.error.message}\nstderr: ${run.stderr}`);
  return r.result as T;
}

/** Writes a config file for one test and returns its path. */
export function writeConfig(config: Record<string, unknown>, dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpi-config-'))): string {
  const file = path.join(dir, 'cpi.json');
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}
