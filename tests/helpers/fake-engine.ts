/**
 * Misbehaving engines on unix sockets of a test's own: a fake that answers the version ping and
 * then misbehaves on every other request, and a proxy in front of the real engine that stalls the
 * requests a test picks (a hung container start) while passing everything else through.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * drip: a byte every 300 ms, never idle for a second yet never done within seconds.
 * modern: a well-behaved engine that refuses API versions below 1.44 (Docker 29).
 */
export type Misbehaviour = 'silent' | 'half-then-stall' | 'drip' | 'close-mid-body' | 'short-body' | 'garbage' | 'modern';

const BODY = '[{"Id":"0123456789abcdef","Names":["/x"],"Labels":{}}]';

function head(status: string, length: number, api = '1.41'): string {
  return `HTTP/1.1 ${status}\r\nApi-Version: ${api}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
}

/** What the fake does with a request after the ping. */
function misbehave(sock: net.Socket, how: Misbehaviour, timers: Set<NodeJS.Timeout>): void {
  if (how === 'silent') return;
  if (how === 'half-then-stall') return void sock.write(head('200 OK', BODY.length) + BODY.slice(0, 10));
  if (how === 'close-mid-body') return void sock.end(head('200 OK', BODY.length) + BODY.slice(0, 10));
  if (how === 'short-body') return void sock.end(head('200 OK', BODY.length + 20) + BODY);
  if (how === 'garbage') return void sock.end('HTTX/9 what\r\n\r\n');
  const text = head('200 OK', BODY.length) + BODY;
  let i = 0;
  const t = setInterval(() => {
    if (sock.destroyed || i >= text.length) return clearInterval(t);
    sock.write(text[i++] as string);
  }, 300);
  timers.add(t);
}

export class FakeEngine {
  readonly socket: string;
  readonly host: string;
  /** Requests seen after the ping, as "METHOD path". */
  readonly seen: string[] = [];
  private server: net.Server;
  private timers = new Set<NodeJS.Timeout>();
  private sockets = new Set<net.Socket>();

  constructor(how: Misbehaviour) {
    this.socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fake-engine-')), 'docker.sock');
    this.host = `unix://${this.socket}`;
    this.server = net.createServer((sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => undefined);
      let buf = '';
      sock.on('data', (c) => {
        buf += c.toString('latin1');
        for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
          const line = buf.slice(0, buf.indexOf('\r\n'));
          buf = buf.slice(end + 4);
          const [method, url] = line.split(' ');
          if (url === '/_ping') sock.write(head('200 OK', 2, how === 'modern' ? '1.52' : '1.41') + 'OK');
          else if (how === 'modern') {
            // Docker 29: API 1.44 and newer only.
            this.seen.push(`${method} ${url}`);
            const old = /^\/v1\.(4[0-3]|[0-3]\d)\//.test(url ?? '');
            const body = old ? '{"message":"client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version"}' : BODY;
            sock.write(head(old ? '400 Bad Request' : '200 OK', body.length, '1.52') + body);
          } else {
            this.seen.push(`${method} ${url}`);
            misbehave(sock, how, this.timers);
          }
        }
      });
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socket, resolve));
  }

  /** Open connections: a CPI that gave up must have closed its own. */
  openConnections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
    fs.rmSync(path.dirname(this.socket), { recursive: true, force: true });
  }
}

/**
 * A proxy to the real engine that stalls every request whose "METHOD path" matches `stall`
 * (the connection stays open and silent), and records what it stalled.
 */
export class StallingProxy {
  readonly socket: string;
  readonly host: string;
  readonly stalled: string[] = [];
  private server: net.Server;
  private sockets = new Set<net.Socket>();

  constructor(
    private stall: RegExp,
    upstream = '/var/run/docker.sock',
  ) {
    this.socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stall-proxy-')), 'docker.sock');
    this.host = `unix://${this.socket}`;
    this.server = net.createServer((client) => {
      const engine = net.connect(upstream);
      this.sockets.add(client).add(engine);
      const drop = () => {
        client.destroy();
        engine.destroy();
      };
      client.on('close', drop).on('error', drop);
      engine.on('close', drop).on('error', drop);
      let stalled = false;
      client.on('data', (c) => {
        if (stalled) return;
        // Our client writes a request's head in one piece: its request line is in one chunk.
        const m = [...c.toString('latin1').matchAll(/(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.1/g)].map((x) => `${x[1]} ${x[2]}`);
        const hit = m.find((r) => this.stall.test(r));
        if (hit) {
          stalled = true;
          this.stalled.push(hit);
          return;
        }
        engine.write(c);
      });
      engine.on('data', (c) => {
        if (!stalled) client.write(c);
      });
    });
  }

  /** Stalls a different set of requests from now on. */
  setStall(stall: RegExp): void {
    this.stall = stall;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socket, resolve));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
    fs.rmSync(path.dirname(this.socket), { recursive: true, force: true });
  }
}
