/**
 * create_stemcell for warden-tar / general-tar stemcells: one streaming pass over the `image`
 * file into the engine's image-load API.
 *
 * The upload is a docker-archive (what `docker save` writes) built on the fly: the gzipped rootfs
 * goes in unchanged as the layer, while a second read of the same file (from the page cache)
 * validates it and detects the init. Only then are the image config, holding the labels and the
 * layer digest, and the manifest appended. The engine commits an image only after reading the
 * manifest, so a bad file aborts the upload and leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as tar from 'tar-stream';
import type { CloudProperties } from '../../cpi/schemas';
import { CloudError, isBoshError } from '../../rpc/errors';
import { newStemcellCid } from '../new-cids';
import type { DockerContext } from '../context';
import { readText } from '../engine/client';
import { L, tagLabels } from '../labels';
import { scanRootfs, StemcellImageError, type RootfsScan } from './rootfs-scan';

const ARCH: Record<string, string> = { x86_64: 'amd64', amd64: 'amd64', aarch64: 'arm64', arm64: 'arm64' };

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined;
}

/** The stemcell's OS: cloud_properties say it, or the name does (bosh-warden-boshlite-ubuntu-jammy-go_agent). */
function stemcellOs(cp: CloudProperties): string | undefined {
  const explicit = str(cp['os']) ?? str(cp['operating_system']);
  if (explicit) return explicit;
  const m = /(ubuntu-[a-z]+|centos-\d+|windows\d+|opensuse-[\w.]+|alpine|busybox)/.exec(str(cp['name']) ?? '');
  return m?.[1] ?? str(cp['os_distro']);
}

/** The agent's configuration as one line of JSON, or undefined when it is not a JSON object. */
function compactJson(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? JSON.stringify(v) : undefined;
  } catch {
    return undefined;
  }
}

export function stemcellLabels(ctx: DockerContext, cid: string, cp: CloudProperties, env: Record<string, unknown>, scan: RootfsScan): Record<string, string> {
  const labels: Record<string, string> = { ...tagLabels(env['tags']) };
  const name = str(cp['name']);
  const version = str(cp['version']);
  const os = stemcellOs(cp);
  if (name) labels[L.stemcellName] = name;
  if (version) labels[L.stemcellVersion] = version;
  if (os) labels[L.stemcellOs] = os;
  labels[L.stemcellCid] = cid;
  labels[L.initMode] = scan.init.mode;
  if (scan.init.path) labels[L.initPath] = scan.init.path;
  if (scan.init.available?.runit) labels[L.initRunit] = scan.init.available.runit;
  if (scan.init.available?.systemd) labels[L.initSystemd] = scan.init.available.systemd;
  // Present even when empty: tells a later create_vm this image's inits were all looked for.
  labels[L.initSystemd] ??= '';
  labels[L.initRunit] ??= '';
  const agent = compactJson(scan.agentConfig);
  if (agent) labels[L.agentConfig] = agent;
  return ctx.labels(labels);
}

function imageConfig(arch: string, labels: Record<string, string>, diffId: string, what: string): Buffer {
  const created = new Date().toISOString();
  return Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      created,
      config: { Labels: labels, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: `bosh-container-cpi create_stemcell ${what}` }],
    }),
  );
}

function addEntry(pack: tar.Pack, name: string, content: Buffer): Promise<void> {
  return new Promise((resolve, reject) => pack.entry({ name, mode: 0o644 }, content, (e) => (e ? reject(e) : resolve())));
}

function addFileEntry(pack: tar.Pack, name: string, file: string, size: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const entry = pack.entry({ name, mode: 0o644, size }, (e) => (e ? reject(e) : resolve()));
    const src = fs.createReadStream(file);
    src.on('error', (e) => {
      entry.destroy(e);
      reject(e);
    });
    src.pipe(entry);
  });
}

/** Fails on an `errorDetail` in the engine's JSON progress stream. */
export function checkProgress(text: string, what: string): string[] {
  const messages: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let msg: { error?: string; errorDetail?: { message?: string }; stream?: string; status?: string };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      continue;
    }
    if (msg.error || msg.errorDetail) throw new CloudError(`${what}: ${msg.errorDetail?.message ?? msg.error}`);
    if (msg.stream) messages.push(msg.stream.trim());
  }
  return messages;
}

async function engineArch(ctx: DockerContext): Promise<string> {
  const info = await ctx.engineInfo();
  return ARCH[info.Architecture ?? ''] ?? info.Architecture ?? 'amd64';
}

export async function importStemcell(ctx: DockerContext, imagePath: string, cp: CloudProperties, env: Record<string, unknown>): Promise<string> {
  let size: number;
  try {
    const stat = fs.statSync(imagePath);
    if (stat.isDirectory()) throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
    size = stat.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory, not a stemcell image file' : `cannot be read (${code})`;
    throw new CloudError(`stemcell image ${imagePath} ${why}`);
  }
  const cid = newStemcellCid();
  const [repo, tag] = cid.split(':') as [string, string];
  const what = `${str(cp['name']) ?? 'stemcell'}/${str(cp['version']) ?? '?'}`;
  const arch = ARCH[str(cp['architecture']) ?? ''] ?? (await engineArch(ctx));

  const pack = tar.pack();
  // Failures surface through `building` and the upload; an unheard 'error' event would crash.
  pack.on('error', () => undefined);
  const scanning = scanRootfs(imagePath);
  const building = (async () => {
    await addFileEntry(pack, 'layer/layer.tar', imagePath, size);
    const scan = await scanning;
    const config = imageConfig(arch, stemcellLabels(ctx, cid, cp, env, scan), scan.diffId, what);
    const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
    await addEntry(pack, configName, config);
    await addEntry(pack, 'manifest.json', Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [`${repo}:${tag}`], Layers: ['layer/layer.tar'] }])));
    pack.finalize();
    return scan;
  })();
  // A bad file aborts the upload: the engine never sees a manifest and keeps nothing.
  building.catch((e: unknown) => pack.destroy(e as Error));
  scanning.catch(() => undefined);

  const uploading = ctx.engine
    .stream('POST', '/images/load', { query: { quiet: false }, body: pack, headers: { 'Content-Type': 'application/x-tar' }, kind: 'image' })
    .then((res) => readText(res));

  let scan: RootfsScan;
  try {
    [scan] = await Promise.all([building, uploading.then((text) => checkProgress(text, `loading stemcell ${what}`))]);
  } catch (e) {
    uploading.catch(() => undefined);
    const cause = (await scanning.then(() => undefined, (x: unknown) => x)) ?? e;
    if (cause instanceof StemcellImageError) throw new CloudError(cause.message);
    throw isBoshError(cause) ? cause : new CloudError(`importing stemcell ${what} from ${imagePath} failed: ${(cause as Error).message}`, { cause });
  }
  ctx.log.info('imported stemcell', { cid, stemcell: what, init: scan.init.mode, entries: scan.entries, bytes: scan.uncompressedBytes });
  return cid;
}
