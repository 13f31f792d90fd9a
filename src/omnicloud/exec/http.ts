/**
 * One HTTP request for an Endpoint target, over TCP, TLS or a unix socket (`unix_socket`, e.g. the
 * Docker Engine API on /var/run/docker.sock). Connect and read (idle) timeouts plus an overall
 * deadline; TLS certificates are verified unless the provider turns that off; the response body is
 * capped, and kept whatever the status so errors can be classified from it. A body is text, bytes
 * or a file opened for the upload (bodies.ts), streamed under the same deadlines.
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { OmniError, providerError } from '../errors';
import type { Readable } from 'node:stream';
import { closeBodyFile, fileStream, type OpenedFile } from './bodies';

export interface HttpSpec {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** A file to stream as the body (opened by bodies.ts; closed here whatever happens). */
  bodyFile?: OpenedFile;
  socketPath?: string;
  verifyTls: boolean;
  connectTimeoutMs: number;
  /** Longest silence while waiting for the response. */
  readTimeoutMs: number;
  /** The whole exchange. */
  timeoutMs: number;
  maxBodyBytes: number;
}

export interface HttpResult {
  status: number;
  headers: Http.IncomingHttpHeaders;
  body: string;
  /** The body as received (an archive is not text). */
  bytes: Buffer;
  ms: number;
}

/** node:https (and TLS with it) only for https URLs: a unix-socket call never loads it. */
function transport(tls: boolean): { request: typeof Https.request } {
  return (tls ? require('node:https') : require('node:http')) as { request: typeof Https.request };
}

/** What may be shown of a URL: no credentials, no query (API keys travel there). */
export function displayUrl(url: URL, socketPath?: string): string {
  const where = socketPath ? `unix:${socketPath}` : `${url.protocol}//${url.host}`;
  return `${where}${url.pathname}`;
}

/** node's request options for a spec: its own connection for a unix socket, an Agent-less one otherwise. */
function requestOptions(spec: HttpSpec, tls: boolean): Https.RequestOptions {
  const headers: Record<string, string> = { ...spec.headers };
  if (spec.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(spec.body));
  if (spec.bodyFile) headers['Content-Length'] = String(spec.bodyFile.size);
  const options: Https.RequestOptions = {
    method: spec.method,
    path: `${spec.url.pathname}${spec.url.search}`,
    headers,
  };
  if (spec.socketPath) {
    // A unix socket connects at once: the request makes its own, without an Agent's machinery
    // (several ms of a cold process, the IPv6 regex of its server-name guess among them).
    const socketPath = spec.socketPath;
    options.createConnection = () => (require('node:net') as typeof import('node:net')).connect(socketPath);
    options.headers = { Host: spec.url.host || 'localhost', ...headers };
  } else {
    options.agent = false;
    // A server name matters for TLS only (SNI); left out, node works one out with its IPv6 regex.
    if (!tls) options.servername = '';
    options.hostname = spec.url.hostname.replace(/^\[|\]$/g, '');
    options.port = spec.url.port || (tls ? 443 : 80);
    if (spec.url.username || spec.url.password) {
      options.auth = `${decodeURIComponent(spec.url.username)}:${decodeURIComponent(spec.url.password)}`;
    }
  }
  if (tls) options.rejectUnauthorized = spec.verifyTls;
  return options;
}

export function request(spec: HttpSpec): Promise<HttpResult> {
  const started = Date.now();
  const shown = displayUrl(spec.url, spec.socketPath);
  const tls = spec.url.protocol === 'https:' && !spec.socketPath;
  const options = requestOptions(spec, tls);

  // Owns the opened body file from here: the stream closes it, or the failure below does.
  let upload: Readable | undefined;
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (e: OmniError) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(connectTimer);
      upload?.destroy();
      req.destroy();
      reject(e);
    };
    let req: Http.ClientRequest;
    try {
      req = transport(tls).request(options, onResponse);
    } catch (e) {
      if (spec.bodyFile) closeBodyFile(spec.bodyFile);
      reject(providerError(`${spec.method} ${shown}: ${(e as Error).message}`, { url: shown }));
      return;
    }
    if (spec.bodyFile) upload = fileStream(spec.bodyFile);
    function onResponse(res: Http.IncomingMessage): void {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > spec.maxBodyBytes) {
          fail(providerError(`${spec.method} ${shown}: the response is larger than ${spec.maxBodyBytes} bytes`, { url: shown, max_output_bytes: spec.maxBodyBytes }));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        // The whole body has arrived: an upload the server answered early is not sent further.
        upload?.destroy();
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes, ms: Date.now() - started });
      });
      res.on('error', (e) => fail(providerError(`${spec.method} ${shown}: ${e.message}`, { url: shown })));
    }
    const deadline = setTimeout(
      () => fail(new OmniError('TimeoutError', `${spec.method} ${shown} did not complete within ${spec.timeoutMs / 1000} s`, { url: shown, timeout_seconds: spec.timeoutMs / 1000 })),
      spec.timeoutMs,
    );
    const connectTimer = setTimeout(
      () => fail(new OmniError('TimeoutError', `${spec.method} ${shown}: no connection within ${spec.connectTimeoutMs / 1000} s`, { url: shown, connect_timeout_seconds: spec.connectTimeoutMs / 1000 })),
      spec.connectTimeoutMs,
    );
    req.on('socket', (socket) => {
      const connected = () => clearTimeout(connectTimer);
      if (!socket.connecting) connected();
      else socket.once(tls ? 'secureConnect' : 'connect', connected);
    });
    req.setTimeout(spec.readTimeoutMs, () =>
      fail(new OmniError('TimeoutError', `${spec.method} ${shown}: no data for ${spec.readTimeoutMs / 1000} s`, { url: shown, read_timeout_seconds: spec.readTimeoutMs / 1000 })),
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      const tlsHint = /certificate|self[- ]signed|CERT_|unable to verify/i.test(e.message) ? ' (TLS verification is on; set verify_ssl to false only for a trusted self-signed endpoint)' : '';
      fail(providerError(`${spec.method} ${shown}: ${e.code ?? ''} ${e.message}${tlsHint}`.replace(/\s+/g, ' '), { url: shown, errno: e.code }));
    });
    if (upload) {
      upload.on('error', (e: NodeJS.ErrnoException) => fail(providerError(`${spec.method} ${shown}: reading the body file failed: ${e.code ?? e.message}`, { url: shown })));
      upload.pipe(req);
      return;
    }
    if (spec.body !== undefined) req.write(spec.body);
    req.end();
  });
}
