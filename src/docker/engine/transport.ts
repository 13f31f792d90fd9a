/**
 * One HTTP exchange with the engine on node's http client, under three bounds: connecting, idling
 * (no byte moving either way) and the whole exchange, body included. Whatever trips first
 * destroys the request and the response with an EngineTimeout, so a hung or dripping engine can
 * never hold a CPI call: the Director puts no timeout around CPI calls.
 *
 * node's parser also refuses what a hand-written one let through: a body shorter than its
 * Content-Length, a truncated chunked body, a malformed status line.
 */
import type * as http from 'node:http';
import type { Readable } from 'node:stream';
import type { Endpoint } from './endpoint';

export interface Bounds {
  connectMs: number;
  idleMs: number;
  overallMs: number;
}

/** Which bound tripped, for a message that names it and the configuration key behind it. */
export type BoundKind = 'connect' | 'idle' | 'overall';

export class EngineTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(
    readonly bound: BoundKind,
    readonly ms: number,
  ) {
    super(`${bound} bound of ${ms} ms exceeded`);
  }
}

/** The response was cut short or malformed: never accepted as an answer. */
export class TruncatedResponse extends Error {
  readonly code = 'ERESPONSE';
}

export interface Exchange {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** A complete body, or a stream piped as the request body. */
  body?: Buffer | Readable;
  bounds: Bounds;
  /** Turns the transport's own failures into the caller's errors, for the promise and the body alike. */
  mapError?: (e: Error) => Error;
}

let httpMod: typeof import('node:http') | undefined;
const netLib = (): typeof import('node:net') => require('node:net') as typeof import('node:net');
let httpsMod: typeof import('node:https') | undefined;
const httpLib = (): typeof import('node:http') => (httpMod ??= require('node:http') as typeof import('node:http'));
export const httpsLib = (): typeof import('node:https') => (httpsMod ??= require('node:https') as typeof import('node:https'));

function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function';
}

/**
 * Starts the exchange; resolves with the response once its head arrived. The overall and idle
 * bounds keep running until the caller has read the body (or destroyed the response).
 */
export function exchange(endpoint: Endpoint, agent: http.Agent | undefined, x: Exchange): Promise<http.IncomingMessage> {
  // A unix socket connects in microseconds: each request gets its own, made directly, which
  // spares a cold process the Agent's machinery (several ms). TCP and TLS keep an Agent's
  // connections; an explicit servername spares it working one out (its IP check compiles node's
  // IPv6 regex, ~7 ms of a cold process). SNI only matters for TLS, and an IP address gets none.
  const target: import('node:https').RequestOptions =
    endpoint.kind === 'unix'
      ? { createConnection: () => netLib().connect(endpoint.socketPath) }
      : { host: endpoint.hostname, port: endpoint.port, agent, servername: endpoint.tls && !/^[\d.]+$|:/.test(endpoint.hostname) ? endpoint.hostname : '' };
  const lib = endpoint.kind === 'tcp' && endpoint.tls ? httpsLib() : httpLib();
  const headers = { ...x.headers };
  if (Buffer.isBuffer(x.body)) headers['Content-Length'] = String(x.body.length);
  return new Promise((resolve, reject) => {
    const req = lib.request({ ...target, method: x.method, path: x.path, headers });
    let res: http.IncomingMessage | undefined;
    let settled = false;
    let finished = false;
    let socket: import('node:net').Socket | undefined;
    const onIdle = () => fail(new EngineTimeout('idle', x.bounds.idleMs));
    // The exchange is over (body read, or given up): a pooled socket must not carry its bounds on.
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(overall);
      clearTimeout(connect);
      if (socket) {
        socket.setTimeout(0);
        socket.removeListener('timeout', onIdle);
      }
    };
    const fail = (raw: Error) => {
      if (finished) return;
      finish();
      const e = x.mapError ? x.mapError(raw) : raw;
      if (res) res.destroy(e);
      req.destroy(e);
      if (!settled) {
        settled = true;
        reject(e);
      }
    };
    const overall = setTimeout(() => fail(new EngineTimeout('overall', x.bounds.overallMs)), x.bounds.overallMs);
    const connect = setTimeout(() => fail(new EngineTimeout('connect', x.bounds.connectMs)), x.bounds.connectMs);
    req.on('socket', (sock) => {
      socket = sock;
      const connected = () => {
        clearTimeout(connect);
        if (!finished) sock.setTimeout(x.bounds.idleMs);
      };
      sock.on('timeout', onIdle);
      if (!sock.connecting) connected();
      else sock.once(endpoint.kind === 'tcp' && endpoint.tls ? 'secureConnect' : 'connect', connected);
    });
    req.on('error', (e) => fail(e));
    req.on('response', (r) => {
      res = r;
      const cut = () => fail(new TruncatedResponse('the engine closed the connection in the middle of its response'));
      r.on('aborted', cut);
      r.on('end', finish);
      // Closed before node's parser saw the whole body: a short or cut response.
      r.on('close', () => (r.complete ? finish() : cut()));
      settled = true;
      resolve(r);
    });
    if (isReadable(x.body)) {
      x.body.on('error', (e) => fail(Object.assign(e, { fromBody: true })));
      x.body.pipe(req);
    } else req.end(x.body);
  });
}

/** Reads a response body to its end; a cut or timed-out body rejects. */
export function readBody(res: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const m = res as http.IncomingMessage;
      if (m.complete === false) reject(new TruncatedResponse('the engine closed the connection in the middle of its response'));
      else resolve(Buffer.concat(chunks));
    });
    // node resets a response whose connection closed early: after its head arrived, that is a cut answer.
    res.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ECONNRESET' ? new TruncatedResponse('the engine closed the connection in the middle of its response') : e));
  });
}
