/**
 * A lean Docker Engine API client over node's http/https.
 *
 * Every CPI call is a fresh process and the frequent ones (has_vm, has_disk, get_disks) make one
 * or two engine requests, so this client loads nothing beyond node's http: requiring dockerode
 * and making the same request costs ~15 ms more per call on these machines (see README,
 * "Performance"). dockerode drives the long streaming operations instead (streams.ts).
 */
import type * as http from 'node:http';
import * as net from 'node:net';
import type { Readable } from 'node:stream';
import type { DockerConfig } from '../../config/schema';
import type { Logger } from '../../log/logger';
import { CloudError, isBoshError } from '../../rpc/errors';
import { parseEndpoint, type Endpoint } from './endpoint';
import { unixRequest } from './unix-http';

/** node's http client, loaded only for TCP engines and for streams (see unix-http.ts). */
const httpModule = (): typeof import('node:http') => require('node:http') as typeof import('node:http');

/** Newest Engine API the CPI is written against; older engines are spoken to in their own version. */
export const MAX_API_VERSION = '1.47';
/** Oldest Engine API the CPI supports: Docker 20.10, what Debian ships. */
export const MIN_API_VERSION = '1.41';

/**
 * An error answer of the engine. Recognise it with isEngineError, not instanceof: parts of the
 * backend are separate bundle chunks, each with its own copy of this class.
 */
export class EngineError extends Error {
  readonly isEngineError = true;
  constructor(
    readonly statusCode: number,
    readonly engineMessage: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${engineMessage}`);
  }
}

export type Query = Record<string, string | number | boolean | undefined | Record<string, unknown> | unknown[]>;

export interface RequestOptions {
  query?: Query;
  /** A JSON-serialisable value, or a stream sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Milliseconds without any activity on the socket before the request fails. */
  idleTimeoutMs?: number;
}

/** Remembers the negotiated version across CPI calls, saving every later call a round trip. */
export interface VersionMemo {
  get(): string | undefined;
  set(version: string): void;
  clear(): void;
}

/** The engine refused the API version in the path (it was upgraded or replaced). */
function isVersionRefusal(e: unknown): boolean {
  return isEngineError(e) && e.statusCode === 400 && /client version .* is too (new|old)|API version/i.test(e.engineMessage);
}

export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

/** The API version to use against an engine that speaks [min, max]. */
export function negotiateVersion(engineMax: string, engineMin: string | undefined): string {
  let v = compareVersions(engineMax, MAX_API_VERSION) < 0 ? engineMax : MAX_API_VERSION;
  if (engineMin && compareVersions(v, engineMin) < 0) v = engineMin;
  return v;
}

function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function';
}

function encodeQuery(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    p.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Encodes an ID for use as one path segment (CIDs come from callers). */
export function seg(id: string): string {
  return encodeURIComponent(id);
}

export class EngineClient {
  readonly endpoint: Endpoint;
  private readonly agent: http.Agent | undefined;
  private version: string | undefined;
  private versionProbe: Promise<string> | undefined;
  /** Whether `version` came from the memo, unconfirmed by the engine in this process. */
  private remembered = false;

  constructor(
    private readonly config: DockerConfig,
    private readonly log: Logger,
    private readonly memo?: VersionMemo,
  ) {
    this.endpoint = parseEndpoint(config);
    this.version = config.api_version ?? undefined;
    if (!this.version && memo) {
      this.version = memo.get();
      this.remembered = this.version !== undefined;
    }
    const tls = config.tls;
    // Unix sockets connect in microseconds, so each request gets its own connection: an http
    // Agent costs more on first use (its server-name check compiles the IPv6 regex) than it
    // saves. TCP and TLS keep connections alive; https (and tls) are loaded only for TLS
    // endpoints, they cost several milliseconds.
    if (this.endpoint.kind === 'unix') this.agent = undefined;
    else if (this.endpoint.tls) {
      this.agent = new (require('node:https') as typeof import('node:https')).Agent({
        keepAlive: true,
        ca: tls?.ca,
        cert: tls?.certificate,
        key: tls?.private_key,
        servername: this.endpoint.hostname,
      });
    } else this.agent = new (httpModule().Agent)({ keepAlive: true });
  }

  /** The negotiated (or pinned) Engine API version; asks the engine once per process. */
  apiVersion(): Promise<string> {
    if (this.version) return Promise.resolve(this.version);
    this.versionProbe ??= this.raw('GET', '/version', {}).then((body) => {
      const v = body as { ApiVersion?: string; MinAPIVersion?: string };
      if (!v.ApiVersion) throw new CloudError(`the Docker engine at ${this.endpoint.display} did not report an API version`);
      if (compareVersions(v.ApiVersion, MIN_API_VERSION) < 0) {
        throw new CloudError(
          `the Docker engine at ${this.endpoint.display} speaks API ${v.ApiVersion}; the CPI needs ${MIN_API_VERSION} (Docker 20.10) or newer`,
        );
      }
      const version = negotiateVersion(v.ApiVersion, v.MinAPIVersion);
      this.version = version;
      this.remembered = false;
      this.memo?.set(version);
      this.log.debug('negotiated Docker Engine API version', { engine: v.ApiVersion, min: v.MinAPIVersion, using: version });
      return version;
    });
    return this.versionProbe;
  }

  /** Forgets a remembered version the engine refused, so the next request negotiates. */
  private forgetRemembered(e: unknown): boolean {
    if (!this.remembered || !isVersionRefusal(e)) return false;
    this.log.debug('the engine refused the remembered API version; negotiating again', { version: this.version });
    this.memo?.clear();
    this.version = undefined;
    this.versionProbe = undefined;
    this.remembered = false;
    return true;
  }

  /** A versioned request whose JSON response body is returned (undefined when empty). */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    if (isReadable(opts.body) && this.remembered) await this.confirmVersion(); // an upload cannot be repeated
    try {
      return (await this.raw(method, `/v${await this.apiVersion()}${path}`, opts)) as T;
    } catch (e) {
      if (!this.forgetRemembered(e)) throw e;
      return (await this.raw(method, `/v${await this.apiVersion()}${path}`, opts)) as T;
    }
  }

  /** A versioned request whose successful response is handed over as a stream. */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    if (isReadable(opts.body) && this.remembered) await this.confirmVersion();
    try {
      return await this.send(method, `/v${await this.apiVersion()}${path}`, opts);
    } catch (e) {
      if (isReadable(opts.body) || !this.forgetRemembered(e)) throw e;
      return this.send(method, `/v${await this.apiVersion()}${path}`, opts);
    }
  }

  /** Negotiates now, whatever was remembered (before an upload, which cannot be repeated). */
  private async confirmVersion(): Promise<void> {
    this.version = undefined;
    this.versionProbe = undefined;
    this.remembered = false;
    await this.apiVersion();
  }

  private async raw(method: string, path: string, opts: RequestOptions): Promise<unknown> {
    if (this.endpoint.kind === 'unix' && !isReadable(opts.body)) return this.rawUnix(this.endpoint.socketPath, method, path, opts);
    const res = await this.send(method, path, opts);
    return decodeBody(await readText(res), res.headers['content-type']);
  }

  /** A JSON request over the unix socket without node's http client (see unix-http.ts). */
  private async rawUnix(socketPath: string, method: string, path: string, opts: RequestOptions): Promise<unknown> {
    const headers: Record<string, string> = { Host: 'docker', ...opts.headers };
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    if (body) headers['Content-Type'] ??= 'application/json';
    const started = Date.now();
    let res;
    try {
      res = await unixRequest(socketPath, method, path + encodeQuery(opts.query), {
        headers,
        body,
        connectTimeoutMs: this.config.connect_timeout_seconds * 1000,
        idleTimeoutMs: opts.idleTimeoutMs,
      });
    } catch (e) {
      throw this.connectionError(e as NodeJS.ErrnoException);
    }
    if (this.log.isLevelEnabled('trace')) this.log.trace('engine request', { method, path, status: res.status, ms: Date.now() - started });
    const text = res.body.toString('utf8');
    if (res.status < 200 || res.status >= 300) throw new EngineError(res.status, engineMessage(text), method, path);
    return decodeBody(text, res.headers['content-type']);
  }

  private send(method: string, path: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const fullPath = path + encodeQuery(opts.query);
    const headers: Record<string, string> = { Host: 'docker', ...opts.headers };
    let payload: Buffer | undefined;
    if (opts.body !== undefined && !isReadable(opts.body)) {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers['Content-Type'] ??= 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const e = this.endpoint;
    const target: http.RequestOptions =
      e.kind === 'unix' ? { createConnection: () => net.connect(e.socketPath) } : { host: e.hostname, port: e.port, agent: this.agent };
    const mod = e.kind === 'tcp' && e.tls ? (require('node:https') as typeof import('node:https')) : httpModule();

    const tracing = this.log.isLevelEnabled('trace');
    const started = tracing ? Date.now() : 0;
    return new Promise((resolve, reject) => {
      const req = mod.request({ ...target, method, path: fullPath, headers });
      const connectTimer = setTimeout(() => {
        req.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
      }, this.config.connect_timeout_seconds * 1000);
      req.on('socket', (sock) => {
        if (!sock.connecting) clearTimeout(connectTimer);
        else sock.once('connect', () => clearTimeout(connectTimer));
        if (e.kind === 'tcp' && e.tls) sock.once('secureConnect', () => clearTimeout(connectTimer));
      });
      if (opts.idleTimeoutMs) {
        req.setTimeout(opts.idleTimeoutMs, () => req.destroy(Object.assign(new Error('engine stopped answering'), { code: 'ETIMEDOUT' })));
      }
      let bodyError: Error | undefined;
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        // A failing upload stream is the caller's problem to report, not the engine's.
        reject(bodyError ?? this.connectionError(err as NodeJS.ErrnoException));
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        const status = res.statusCode ?? 0;
        if (tracing) this.log.trace('engine request', { method, path, status, ms: Date.now() - started });
        if (status >= 200 && status < 300) return resolve(res);
        void readText(res).then(
          (text) => reject(new EngineError(status, engineMessage(text), method, path)),
          (err: NodeJS.ErrnoException) => reject(this.connectionError(err)),
        );
      });
      if (isReadable(opts.body)) {
        opts.body.on('error', (err) => {
          bodyError = err;
          req.destroy(err);
        });
        opts.body.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }

  private connectionError(err: NodeJS.ErrnoException): Error {
    if (isBoshError(err) || isEngineError(err)) return err as Error;
    const where = this.endpoint.display;
    const code = err.code ?? '';
    if (code === 'EACCES' || code === 'EPERM') {
      return new CloudError(`permission denied on the Docker engine socket ${where}: the CPI's user cannot use it (add it to the docker group)`);
    }
    if (/^ERR_TLS|CERT|SSL/.test(code) || /certificate|tls|ssl/i.test(err.message)) {
      return new CloudError(`TLS with the Docker engine at ${where} failed: ${err.message}`);
    }
    const retryable = ['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'];
    const why: Record<string, string> = {
      ENOENT: `no socket at ${this.endpoint.kind === 'unix' ? this.endpoint.socketPath : where} (ENOENT); is dockerd running?`,
      ECONNREFUSED: 'connection refused (ECONNREFUSED); is dockerd running and listening there?',
      ETIMEDOUT: `no answer within ${this.config.connect_timeout_seconds} s (ETIMEDOUT)`,
      ECONNRESET: 'the connection was reset (ECONNRESET)',
    };
    return new CloudError(`the Docker engine at ${where} is not reachable: ${why[code] ?? (code ? `${code} (${err.message})` : err.message)}`, {
      okToRetry: retryable.includes(code),
      cause: err,
    });
  }
}

function decodeBody(text: string, contentType: string | undefined): unknown {
  if (!text) return undefined;
  if ((contentType ?? '').includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function engineMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 2000);
}

export function readText(res: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

export function isEngineError(e: unknown): e is EngineError {
  return typeof e === 'object' && e !== null && (e as { isEngineError?: unknown }).isEngineError === true;
}

/** True for an engine answer that means "no such object". */
export function isNotFound(e: unknown): boolean {
  return isEngineError(e) && e.statusCode === 404;
}
