/**
 * Reads a stemcell's `image` (a gzipped rootfs tarball) once, streaming: proves it is gzip and
 * tar and not empty or truncated, computes the uncompressed digest the engine needs as the
 * layer's diff ID, and finds out how the rootfs boots.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';

export type InitMode = 'systemd' | 'runit' | 'none';

export interface InitDetection {
  mode: InitMode;
  /** The program the container starts in that mode. */
  path?: string;
  /** Every init the rootfs has, by what starts it: a forced start mode must name one of these. */
  available?: { runit?: string; systemd?: string };
}

export interface RootfsScan {
  diffId: string;
  entries: number;
  uncompressedBytes: number;
  init: InitDetection;
  /** The bosh-agent's configuration file (var/vcap/bosh/agent.json), when the rootfs has a small one. */
  agentConfig?: string;
}

export class StemcellImageError extends Error {}

const RUNIT_PATHS = ['usr/sbin/runsvdir-start', 'sbin/runsvdir-start', 'usr/bin/runsvdir-start'];
const INIT_PATHS = ['sbin/init', 'usr/sbin/init'];
const SYSTEMD_PATHS = ['lib/systemd/systemd', 'usr/lib/systemd/systemd'];

function normalize(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '').replace(/\/+$/, '');
}

/** Decides the boot mode from what the rootfs holds (runit first: jammy and older run the agent under runit). */
export function detectInit(files: ReadonlySet<string>, links: ReadonlyMap<string, string>): InitDetection {
  // Merged-/usr rootfs (noble): /sbin -> usr/sbin, /lib -> usr/lib.
  const resolve = (p: string): string => {
    const top = p.split('/')[0] as string;
    const target = links.get(top);
    return target && !target.startsWith('/') ? `${normalize(target)}${p.slice(top.length)}` : p;
  };
  const has = (p: string) => files.has(p) || links.has(p) || files.has(resolve(p)) || links.has(resolve(p));
  const available: NonNullable<InitDetection['available']> = {};
  const runit = RUNIT_PATHS.find(has);
  if (runit) available.runit = `/${runit}`;
  const init = INIT_PATHS.find(has);
  if (init) {
    const target = links.get(init) ?? links.get(resolve(init)) ?? '';
    if (target.includes('systemd') || SYSTEMD_PATHS.some(has)) available.systemd = `/${init}`;
  }
  if (available.runit) return { mode: 'runit', path: available.runit, available };
  if (available.systemd) return { mode: 'systemd', path: available.systemd, available };
  return { mode: 'none', available };
}

function describe(file: string, e: unknown): StemcellImageError {
  const err = e as NodeJS.ErrnoException;
  const msg = err.message ?? String(e);
  let why: string;
  if (err.code === 'ENOENT') why = 'does not exist';
  else if (err.code === 'EACCES') why = 'is not readable by the CPI';
  else if (err.code === 'EISDIR') why = 'is a directory, not a stemcell image file';
  else if (err.code === 'Z_DATA_ERROR' || /incorrect header check/.test(msg)) why = 'is not gzip-compressed (a stemcell image is a gzipped rootfs tarball)';
  else if (err.code === 'Z_BUF_ERROR' || /unexpected end of file/.test(msg)) why = 'is truncated: its gzip stream ends early';
  else if (/Invalid tar header|not a tar|Unexpected end of data/i.test(msg)) {
    why = /Unexpected end of data/i.test(msg) ? 'is truncated: its tar archive ends early' : 'does not contain a tar archive';
  } else why = `cannot be read: ${msg}`;
  return new StemcellImageError(`stemcell image ${file} ${why}`);
}

/** Where stemcells keep the agent's configuration (its -C flag), and how much of it is read. */
const AGENT_CONFIG = { path: 'var/vcap/bosh/agent.json', maxBytes: 16 * 1024 };

export async function scanRootfs(file: string): Promise<RootfsScan> {
  let agentConfig: string | undefined;
  const files = new Set<string>();
  const links = new Map<string, string>();
  const hash = createHash('sha256');
  let uncompressedBytes = 0;
  let entries = 0;
  const extract = tar.extract();
  extract.on('entry', (header, body, next) => {
    entries++;
    const name = normalize(header.name);
    if (header.type === 'symlink' || header.type === 'link') links.set(name, header.linkname ?? '');
    else if (header.type === 'file' || header.type === 'contiguous-file') files.add(name);
    if (name === AGENT_CONFIG.path && header.type === 'file' && (header.size ?? 0) <= AGENT_CONFIG.maxBytes) {
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => chunks.push(c as Buffer));
      body.on('end', () => (agentConfig = Buffer.concat(chunks).toString('utf8')));
    }
    body.on('end', next);
    body.resume();
  });
  const tee = new Writable({
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      uncompressedBytes += chunk.length;
      if (!extract.write(chunk)) extract.once('drain', () => cb());
      else cb();
    },
    final(cb) {
      extract.once('finish', () => cb());
      extract.once('error', cb);
      extract.end(undefined);
    },
  });
  extract.on('error', (e) => tee.destroy(e));
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (stat.size === 0) throw new StemcellImageError(`stemcell image ${file} is empty`);
    await pipeline(fs.createReadStream(file), zlib.createGunzip(), tee);
  } catch (e) {
    if (e instanceof StemcellImageError) throw e;
    throw describe(file, e);
  }
  if (entries === 0) throw new StemcellImageError(`stemcell image ${file} is empty: its tar archive holds no files`);
  return { diffId: `sha256:${hash.digest('hex')}`, entries, uncompressedBytes, init: detectInit(files, links), ...(agentConfig !== undefined ? { agentConfig } : {}) };
}
