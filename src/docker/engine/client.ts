/**
 * The Docker Engine API client: node's http over the unix socket, TCP or TLS, every request under
 * the configured bounds (see transport.ts), the API version negotiated once per process.
 */
import type * as http from 'node:http';
import type { Readable } from 'node:stream';
import type { DockerConfig } from '../../config/schema';
import type { Logger } from '../../log/logger';
import { CloudError } from '../../rpc/errors';
import { parseEndpoint, type Endpoint } from './endpoint';
import { connectionError, EngineError, isEngineError, timeoutError, type Operation, type OperationKind } from './errors';
import { plainHttpToTls, tlsError } from './tls-errors';
import { EngineTimeout, exchange, httpsLib, readBody, type Bounds } from './transport';

export { EngineError, isEngineError, isNotFound, type OperationKind } from './errors';

/** Newest Engine API the CPI is written against; older engines are spoken to in their own version. */
export const MAX_API_VERSION = '1.47';
/** Oldest Engine API the CPI supports: Docker 20.10, what Debian ships. */
export const MIN_API_VERSION = '1.41';

export type Query = Record<string, string | number | boolean | undefined | Record<string, unknown> | unknown[]>;

export interface RequestOptions {
  query?: Query;
  /** A JSON-serialisable value, or a stream sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Which bounds apply (default: api, the metadata bound). */
  kind?: OperationKind;
  /** Time the engine legitimately takes on top (a stop's grace period), added to the bounds. */
  extraMs?: number;
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

export async function readText(res: Readable): Promise<string> {
  return (await readBody(res)).toString('utf8');
}

export class EngineClient {
  readonly endpoint: Endpoint;
  private readonly agent: http.Agent | undefined;
  /** The version in request paths: pinned, negotiated, or (until an engine refuses it) the oldest supported. */
  private version: string;
  /** Whether the engine accepted `version` (pinned, negotiated, or an answer seen). */
  private confirmed: boolean;
  private versionProbe: Promise<string> | undefined;

  constructor(
    private readonly config: DockerConfig,
    private readonly log: Logger,
  ) {
    this.endpoint = parseEndpoint(config);
    // Every engine from Docker 20.10 to 28 accepts API 1.41, so calls start with it and spend no
    // round trip on negotiating; an engine that refuses it (Docker 29 and later want 1.44) is asked.
    this.version = config.api_version ?? MIN_API_VERSION;
    this.confirmed = !!config.api_version;
    const tls = config.tls;
    // Unix sockets go through node's global agent (keep-alive); TLS needs an agent with the
    // client certificate. https is loaded only for TLS endpoints: it costs several milliseconds.
    if (this.endpoint.kind === 'tcp' && this.endpoint.tls) {
      this.agent = new (httpsLib().Agent)({
        keepAlive: true,
        ca: tls?.ca,
        cert: tls?.certificate,
        key: tls?.private_key,
        servername: this.endpoint.hostname,
      });
    } else this.agent = undefined;
  }

  /** The bounds of one request of `kind`, plus time the engine legitimately needs on top. */
  bounds(kind: OperationKind = 'api', extraMs = 0): Bounds {
    const c = this.config;
    const overall = { api: c.request_timeout_seconds, image: c.image_timeout_seconds, helper: c.helper_timeout_seconds }[kind] * 1000;
    // A metadata request or a wait is silent until it is done: its idle bound is its overall one.
    const idle = kind === 'image' ? c.idle_timeout_seconds * 1000 : Math.min(c.idle_timeout_seconds * 1000, overall);
    return { connectMs: c.connect_timeout_seconds * 1000, idleMs: (kind === 'helper' ? overall : idle) + extraMs, overallMs: overall + extraMs };
  }

  /** The Engine API version requests use now (see the constructor). */
  get apiVersion(): string {
    return this.version;
  }

  /**
   * Negotiates once per process (before an upload, which cannot be repeated after a refusal).
   * It asks an unversioned ping, the cheapest request there is: every engine answer carries its
   * API version in a header.
   */
  private confirmedVersion(): Promise<string> {
    if (this.confirmed) return Promise.resolve(this.version);
    this.versionProbe ??= this.negotiate().catch((e: unknown) => {
      this.versionProbe = undefined;
      throw e;
    });
    return this.versionProbe;
  }

  private async negotiate(fromVersionCall = false): Promise<string> {
    const op: Operation = { method: 'GET', path: fromVersionCall ? '/version' : '/_ping', kind: 'api' };
    const res = await this.send(op, op.path, {});
    const text = await this.readOrFail(res, op);
    const body = fromVersionCall ? (decodeBody(text, res.headers['content-type']) as { ApiVersion?: string; MinAPIVersion?: string }) : undefined;
    const max = fromVersionCall ? body?.ApiVersion : (res.headers['api-version'] as string | undefined);
    if (!max || !/^1\.\d+$/.test(max)) {
      if (!fromVersionCall) return this.negotiate(true);
      throw new CloudError(`the Docker engine at ${this.endpoint.display} did not report an API version`);
    }
    if (compareVersions(max, MIN_API_VERSION) < 0) {
      throw new CloudError(`the Docker engine at ${this.endpoint.display} speaks API ${max}; the CPI needs ${MIN_API_VERSION} (Docker 20.10) or newer`);
    }
    this.version = negotiateVersion(max, body?.MinAPIVersion);
    this.confirmed = true;
    this.log.debug('negotiated Docker Engine API version', { engine: max, min: body?.MinAPIVersion, using: this.version });
    return this.version;
  }

  /** A versioned request whose JSON response body is returned (undefined when empty). */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const op: Operation = { method, path, kind: opts.kind ?? 'api' };
    const attempt = async () => {
      const res = await this.send(op, `/v${await this.versionFor(opts)}${path}${encodeQuery(opts.query)}`, opts);
      return decodeBody(await this.readOrFail(res, op), res.headers['content-type']) as T;
    };
    try {
      return await attempt();
    } catch (e) {
      if (!this.refused(e, opts)) throw e;
      await this.versionProbe;
      return attempt();
    }
  }

  /** Uploads negotiate first: a refused upload cannot be sent again. */
  private versionFor(opts: RequestOptions): Promise<string> {
    return isReadable(opts.body) ? this.confirmedVersion() : Promise.resolve(this.version);
  }

  /** The engine refused the version in the path: negotiate, and say whether to try again. */
  private refused(e: unknown, opts: RequestOptions): boolean {
    if (isReadable(opts.body) || this.config.api_version || !isVersionRefusal(e)) return false;
    this.confirmed = false;
    this.versionProbe = this.negotiate();
    return true;
  }

  /** A versioned request whose successful response is handed over as a stream, still bounded. */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const op: Operation = { method, path, kind: opts.kind ?? 'api' };
    let res: http.IncomingMessage;
    try {
      res = await this.send(op, `/v${await this.versionFor(opts)}${path}${encodeQuery(opts.query)}`, opts);
      if ((res.statusCode ?? 0) === 400) await this.readOrFail(res, op);
    } catch (e) {
      if (!this.refused(e, opts)) throw e;
      await this.versionProbe;
      res = await this.send(op, `/v${this.version}${path}${encodeQuery(opts.query)}`, opts);
    }
    if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) return res;
    await this.readOrFail(res, op);
    throw new CloudError(`the Docker engine at ${this.endpoint.display} answered ${method} ${path} with status ${res.statusCode}`);
  }

  /** The body of a 2xx answer; any other status becomes an EngineError with the engine's message. */
  private async readOrFail(res: http.IncomingMessage, op: Operation): Promise<string> {
    let text: string;
    try {
      text = await readText(res);
    } catch (e) {
      throw this.failure(op, e);
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw plainHttpToTls(this.endpoint, status, text) ?? new EngineError(status, engineMessage(text), op.method, op.path);
    return text;
  }

  private async send(op: Operation, fullPath: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const headers: Record<string, string> = { Host: 'docker', ...opts.headers };
    let body: Buffer | Readable | undefined;
    if (isReadable(opts.body)) body = opts.body;
    else if (opts.body !== undefined) {
      body = Buffer.from(JSON.stringify(opts.body));
      headers['Content-Type'] ??= 'application/json';
    }
    const started = Date.now();
    try {
      const res = await exchange(this.endpoint, this.agent, { method: op.method, path: fullPath, headers, body, bounds: this.bounds(op.kind, opts.extraMs), mapError: (e) => this.failure(op, e) });
      if (this.log.isLevelEnabled('trace')) this.log.trace('engine request', { method: op.method, path: op.path, status: res.statusCode, ms: Date.now() - started });
      return res;
    } catch (e) {
      throw this.failure(op, e);
    }
  }

  private failure(op: Operation, e: unknown): Error {
    if ((e as { fromBody?: boolean }).fromBody) return e as Error; // the caller's upload failed: its problem to report
    if (e instanceof EngineTimeout) return timeoutError(this.endpoint, op, e.bound, e.ms, e);
    return tlsError(this.endpoint, this.config.tls, e as NodeJS.ErrnoException) ?? connectionError(this.endpoint, op, e as NodeJS.ErrnoException);
  }
}
