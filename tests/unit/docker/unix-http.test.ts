import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseResponse, unixRequest } from '../../../src/docker/engine/unix-http';

const raw = (s: string) => Buffer.from(s, 'latin1');

describe('HTTP over a unix socket without node:http', () => {
  it('reads sized, chunked and empty bodies', () => {
    expect(parseResponse(raw('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}trailing'))).toEqual({ status: 200, headers: { 'content-type': 'application/json', 'content-length': '7' }, body: raw('{"a":1}') });
    const chunked = parseResponse(raw('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mes\r\n10;ext=1\r\nsage":"no such"}\r\n0\r\n\r\n'));
    expect(chunked.status).toBe(404);
    expect(chunked.body.toString()).toBe('{"message":"no such"}');
    expect(parseResponse(raw('HTTP/1.1 204 No Content\r\nServer: Docker\r\n\r\n')).body.length).toBe(0);
  });

  it('refuses what is not a whole HTTP response', () => {
    expect(() => parseResponse(raw('HTTP/1.1 200 OK\r\nContent-Length: 3'))).toThrow('no complete HTTP header');
    expect(() => parseResponse(raw('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow('not an HTTP response');
    expect(() => parseResponse(raw('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nshort'))).toThrow('truncated chunk');
  });

  it('sends the request with its body and reads the answer to the end of the stream', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uh-')), 's');
    let seen = '';
    const server = net.createServer((c) => {
      c.on('data', (d) => {
        seen += d.toString();
        if (seen.includes('\r\n\r\n') && seen.endsWith('{"x":1}')) c.end('HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{"Id":"abc"}');
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const res = await unixRequest(sock, 'POST', '/v1.41/containers/create?name=a', { headers: { Host: 'docker', 'Content-Type': 'application/json' }, body: Buffer.from('{"x":1}'), connectTimeoutMs: 1000 });
    server.close();
    expect(seen.split('\r\n').slice(0, 2)).toEqual(['POST /v1.41/containers/create?name=a HTTP/1.1', 'Connection: close']);
    expect(seen).toContain('Content-Length: 7\r\n');
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body.toString())).toEqual({ Id: 'abc' });
  });
});
