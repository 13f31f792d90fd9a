/**
 * Fetches the node blobs from the npm registry with npm itself (so the operator's registry,
 * proxy and cache settings apply) and checks each tarball against the integrity hash of the
 * registry's metadata before it becomes a blob.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import type { BlobFetcher, NodeBlob } from './layout';

type Env = NodeJS.ProcessEnv;

/** The npm CLI that runs `npm run release` when there is one, else npm from PATH. */
function npmCommand(env: Env): [string, string[]] {
  const execpath = env['npm_execpath'];
  if (execpath && /npm-cli\.js$/.test(execpath) && fs.existsSync(execpath)) return [process.execPath, [execpath]];
  return ['npm', []];
}

function runNpm(args: string[], env: Env, cwd: string): string {
  const [cmd, pre] = npmCommand(env);
  const r = spawnSync(cmd, [...pre, ...args], { env, cwd, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error) throw new Error(`npm ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout).split('\n').filter((l) => l.trim() && !/Unknown (user|project) config/.test(l)).slice(-8).join('\n');
    throw new Error(`npm ${args.join(' ')} failed (exit ${r.status}):\n${why}`);
  }
  return r.stdout;
}

interface Dist {
  integrity: string;
  shasum?: string;
  tarball?: string;
}

/** The registry's `dist` of one exact version. */
function registryDist(blob: NodeBlob, env: Env, cwd: string): Dist {
  const spec = `${blob.npmName}@${blob.version}`;
  const out = runNpm(['view', spec, 'dist', '--json'], env, cwd).trim();
  if (!out) throw new Error(`the registry has no ${spec}`);
  const parsed = JSON.parse(out) as unknown;
  const dist = (Array.isArray(parsed) ? parsed[parsed.length - 1] : parsed) as Partial<Dist> | undefined;
  if (!dist || typeof dist.integrity !== 'string') throw new Error(`the registry's metadata of ${spec} has no integrity hash`);
  return dist as Dist;
}

/** The base64 sha512 digests of an SRI string ("sha512-… sha1-…"). */
function sha512Digests(integrity: string): string[] {
  return integrity
    .split(/\s+/)
    .filter((h) => h.startsWith('sha512-'))
    .map((h) => h.slice('sha512-'.length).replace(/\?.*$/, ''));
}

/** A file's digest, read in 1 MiB pieces (blobs are tens of megabytes). */
export function digestFile(file: string, algo: 'sha512' | 'sha256' | 'sha1', encoding: 'base64' | 'hex'): string {
  const h = crypto.createHash(algo);
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest(encoding);
}

/** Throws unless the file's hashes are those the registry published. */
function verifyIntegrity(file: string, dist: Dist, what: string): void {
  const wanted = sha512Digests(dist.integrity);
  if (!wanted.length) throw new Error(`${what}: the registry's integrity '${dist.integrity}' has no sha512 hash`);
  const got = digestFile(file, 'sha512', 'base64');
  if (!wanted.includes(got)) throw new Error(`${what}: integrity mismatch: the registry says ${dist.integrity}, the tarball is sha512-${got}`);
  if (dist.shasum && digestFile(file, 'sha1', 'hex') !== dist.shasum) throw new Error(`${what}: sha1 mismatch with the registry's shasum ${dist.shasum}`);
}

/** Throws unless the tarball holds what the docker_cpi_node packaging extracts. */
async function verifyNodeTarball(file: string, what: string): Promise<void> {
  const need = new Set(['package/bin/node', 'package/LICENSE']);
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      if (header.type === 'file' && (header.size ?? 0) > 0) need.delete(header.name);
      stream.on('end', next);
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  const input = fs.createReadStream(file);
  const gunzip = zlib.createGunzip();
  input.on('error', (e) => extract.destroy(e));
  gunzip.on('error', (e) => extract.destroy(e));
  input.pipe(gunzip).pipe(extract);
  try {
    await done;
  } catch (e) {
    throw new Error(`${what}: not a readable gzipped tarball (${(e as Error).message})`);
  }
  if (need.size) throw new Error(`${what}: the tarball lacks ${[...need].join(', ')}`);
}

export function npmFetcher(env: Env = process.env): BlobFetcher {
  return async (blob, dest) => {
    const spec = `${blob.npmName}@${blob.version}`;
    const dir = path.dirname(dest);
    const dist = registryDist(blob, env, dir);
    if (fs.existsSync(dest)) {
      try {
        verifyIntegrity(dest, dist, spec);
        return { downloaded: false };
      } catch {
        fs.rmSync(dest, { force: true });
      }
    }
    const tmp = fs.mkdtempSync(path.join(dir, '.fetch-'));
    try {
      const out = runNpm(['pack', spec, '--pack-destination', tmp, '--json', '--ignore-scripts'], env, tmp);
      const packed = JSON.parse(out) as Array<{ filename?: string }>;
      const filename = packed[0]?.filename;
      if (!filename) throw new Error(`npm pack ${spec} reported no file`);
      const file = path.join(tmp, path.basename(filename));
      verifyIntegrity(file, dist, spec);
      await verifyNodeTarball(file, spec);
      fs.renameSync(file, dest);
      return { downloaded: true };
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  };
}
