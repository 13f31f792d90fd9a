/**
 * A tiny npm registry on 127.0.0.1 for the release script's tests: it serves packuments and
 * tarballs of the node-<platform> packages, and can lie about their hashes.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakePackage {
  name: string;
  version: string;
  tarball: string;
  /** Overrides of the published dist hashes (to publish wrong ones). */
  integrity?: string;
  shasum?: string;
}

export interface FakeRegistry {
  url: string;
  /** Request paths seen, in order. */
  requests: string[];
  tarballRequests(): string[];
  set(pkg: FakePackage): void;
  close(): Promise<void>;
}

export function integrityOf(file: string): { integrity: string; shasum: string } {
  const data = fs.readFileSync(file);
  return {
    integrity: `sha512-${crypto.createHash('sha512').update(data).digest('base64')}`,
    shasum: crypto.createHash('sha1').update(data).digest('hex'),
  };
}

export async function startFakeRegistry(initial: FakePackage[]): Promise<FakeRegistry> {
  const pkgs = new Map<string, FakePackage>(initial.map((p) => [p.name, p]));
  const requests: string[] = [];
  let base = '';
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0] as string);
    requests.push(url);
    const tar = /^\/([^/]+)\/-\/([^/]+\.tgz)$/.exec(url);
    if (tar) {
      const p = pkgs.get(tar[1] as string);
      if (!p) return void res.writeHead(404).end();
      const body = fs.readFileSync(p.tarball);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      return void res.end(body);
    }
    const p = pkgs.get(url.slice(1));
    if (!p) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end('{"error":"Not found"}');
    }
    const real = integrityOf(p.tarball);
    const packument = {
      _id: p.name,
      name: p.name,
      'dist-tags': { latest: p.version },
      versions: {
        [p.version]: {
          _id: `${p.name}@${p.version}`,
          name: p.name,
          version: p.version,
          dist: {
            tarball: `${base}/${p.name}/-/${p.name}-${p.version}.tgz`,
            integrity: p.integrity ?? real.integrity,
            shasum: p.shasum ?? real.shasum,
          },
        },
      },
      time: { [p.version]: '2026-01-01T00:00:00.000Z' },
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(packument));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/`,
    requests,
    tarballRequests: () => requests.filter((r) => r.endsWith('.tgz')),
    set: (p) => void pkgs.set(p.name, p),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
