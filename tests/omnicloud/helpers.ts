/** Shared pieces of the OmniCloud engine tests: providers from objects, engines, fake CLIs, local HTTP. */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogSession, type Logger } from '../../src/log/logger';
import { Engine, type EngineOptions } from '../../src/omnicloud/engine';
import { compileProvider } from '../../src/omnicloud/provider/load';
import type { Provider } from '../../src/omnicloud/provider/model';
import { isOmniError, type OmniError } from '../../src/omnicloud/errors';

export const FIXTURES = path.join(__dirname, 'fixtures');
export const SHIPPED = path.join(__dirname, '..', '..', 'providers');

export function fixture(...p: string[]): string {
  return fs.readFileSync(path.join(FIXTURES, ...p), 'utf8');
}

export function tmpDir(prefix = 'omni-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A provider compiled from an object, as if loaded from `<name>.json`. */
export function provider(raw: Record<string, unknown>): Provider {
  return compileProvider(raw, `${String(raw['name'] ?? 'test')}.json`, 'digest');
}

export interface CapturedLog {
  logger: Logger;
  lines: string[];
  text(): string;
}

/** A logger at debug level whose lines (message and fields) are kept for assertions. */
export function capturedLog(): CapturedLog {
  const session = createLogSession();
  const lines: string[] = [];
  session.useSink(() => ({ write: (level, msg, fields) => lines.push(`${level} ${msg} ${JSON.stringify(fields)}`) }));
  session.setLevel('debug');
  return { logger: session.logger, lines, text: () => lines.join('\n') + '\n' + session.gatheredText() };
}

export function engine(providers: Provider[], opts: Partial<EngineOptions> = {}): Engine {
  return new Engine(new Map(providers.map((p) => [p.name, p])), {
    log: opts.log ?? capturedLog().logger,
    timeoutSeconds: 30,
    connectTimeoutSeconds: 5,
    maxOutputBytes: 1024 * 1024,
    maxErrorBytes: 64 * 1024,
    settings: {},
    env: {},
    passEnv: [],
    processEnv: process.env,
    ...opts,
  });
}

/** One action's provider: `{name, type: command, actions: {a: action}}`. */
export function single(action: Record<string, unknown>, extra: Record<string, unknown> = {}): Provider {
  return provider({ name: 't', type: 'command', actions: { a: action }, ...extra });
}

/** Writes an executable shell script `name` into `dir` (a fake CLI). */
export function fakeBin(dir: string, name: string, script: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return file;
}

export interface LocalServer {
  url: string;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string; bytes: Buffer }>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records requests and answers through `handler`. */
export async function localServer(
  handler: (req: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string; bytes: Buffer }) => { status?: number; body?: string | Buffer; headers?: Record<string, string>; delayMs?: number },
  create: (l: http.RequestListener) => http.Server = (l) => http.createServer(l),
): Promise<LocalServer> {
  const requests: LocalServer['requests'] = [];
  const server = create((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const bytes = Buffer.concat(chunks);
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: bytes.toString('utf8'), bytes };
      requests.push(r);
      const a = handler(r);
      const send = () => {
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers });
        res.end(a.body ?? '');
      };
      if (a.delayMs) setTimeout(send, a.delayMs).unref();
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const scheme = server instanceof http.Server ? 'http' : 'https';
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** Whether a process is alive (a zombie waiting to be reaped is not). */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

/** The OmniError a promise rejects with; anything else fails the test. */
export async function failure(p: Promise<unknown>): Promise<OmniError> {
  try {
    await p;
  } catch (e) {
    if (isOmniError(e)) return e;
    throw e;
  }
  throw new Error('expected the action to fail');
}
