/**
 * One HTTP/1.1 request with a JSON (or empty) body over a unix socket, on node's `net` alone.
 *
 * Most CPI calls make a handful of small JSON requests to the local engine, and loading node's
 * http client costs several milliseconds of every such call (see README, "Performance"). With
 * `Connection: close` the engine ends the stream after its response, so the response is read to
 * the end and then parsed: a status line, headers, and a body that is either sized or chunked.
 * Streams (uploads, progress, archives) still go through node's http.
 */
import * as net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export class ProtocolError extends Error {}

function dechunk(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) throw new ProtocolError('truncated chunked body');
    const size = parseInt(buf.subarray(i, eol).toString('latin1').split(';')[0] as string, 16);
    if (!Number.isFinite(size)) throw new ProtocolError('bad chunk size');
    if (size === 0) return Buffer.concat(parts);
    const start = eol + 2;
    if (start + size > buf.length) throw new ProtocolError('truncated chunk');
    parts.push(buf.subarray(start, start + size));
    i = start + size + 2;
  }
}

export function parseResponse(raw: Buffer): RawResponse {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new ProtocolError('no complete HTTP header in the response');
  const lines = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw new ProtocolError(`not an HTTP response: ${(lines[0] ?? '').slice(0, 40)}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  let body = raw.subarray(headEnd + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status: Number(m[1]), headers, body };
}

export function unixRequest(
  socketPath: string,
  method: string,
  path: string,
  opts: { headers: Record<string, string>; body?: Buffer; connectTimeoutMs: number; idleTimeoutMs?: number },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const chunks: Buffer[] = [];
    let done = false;
    const fail = (e: Error) => {
      if (done) return;
      done = true;
      sock.destroy();
      reject(e);
    };
    const connectTimer = setTimeout(() => fail(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), opts.connectTimeoutMs);
    sock.once('connect', () => {
      clearTimeout(connectTimer);
      if (opts.idleTimeoutMs) sock.setTimeout(opts.idleTimeoutMs, () => fail(Object.assign(new Error('engine stopped answering'), { code: 'ETIMEDOUT' })));
      const head = [`${method} ${path} HTTP/1.1`, 'Connection: close'];
      for (const [k, v] of Object.entries(opts.headers)) head.push(`${k}: ${v}`);
      head.push(`Content-Length: ${opts.body?.length ?? 0}`);
      sock.write(head.join('\r\n') + '\r\n\r\n');
      if (opts.body?.length) sock.write(opts.body);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e) => {
      clearTimeout(connectTimer);
      fail(e);
    });
    sock.on('end', () => {
      clearTimeout(connectTimer);
      if (done) return;
      done = true;
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (e) {
        reject(e);
      }
    });
  });
}
