/**
 * Builds test stemcells from Debian's busybox-static: no registry is reachable here, and a real
 * warden stemcell is hundreds of megabytes. The layout is a real stemcell's: a tarball holding
 * stemcell.MF and `image`, a gzipped rootfs tarball (what create_stemcell receives).
 *
 * `init` picks how the rootfs boots, so the CPI's detection can be tested:
 * - runit:   /usr/sbin/runsvdir-start (what jammy and older warden stemcells start)
 * - systemd: /sbin/init -> /lib/systemd/systemd (noble)
 * - both:    runit and systemd (jammy's rootfs has systemd too; detection prefers runit)
 * - none:    neither; the image has no command of its own
 * The "init" is a shell loop that exits on SIGTERM, like runsvdir and systemd stop promptly.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';

export type StemcellInit = 'runit' | 'systemd' | 'both' | 'none';

interface StemcellOptions {
  init?: StemcellInit;
  name?: string;
  version?: string;
  /** Extra files in the rootfs: path (no leading slash) → content. */
  files?: Record<string, string>;
  /** Extra executable files (mode 0755), replacing any the init put at the same path. */
  executables?: Record<string, string>;
  /**
   * Programs of this machine copied in with their shared libraries (rootfs path → host path),
   * e.g. e2fsprogs, which real stemcells carry and busybox lacks.
   */
  hostTools?: Record<string, string>;
}

/** The shared libraries (and the dynamic loader) a host program needs, by ldd. */
function sharedLibraries(program: string): string[] {
  const out = execFileSync('ldd', [program], { encoding: 'utf8' });
  return [...out.matchAll(/(\/[^\s]+) \(0x/g)].map((m) => m[1] as string);
}

function hostToolEntries(tools: Record<string, string>): Entry[] {
  const files = new Map<string, string>();
  for (const [name, host] of Object.entries(tools)) {
    files.set(name, host);
    for (const lib of sharedLibraries(host)) files.set(lib.slice(1), lib);
  }
  const dirs = new Set<string>();
  for (const name of files.keys()) for (let d = path.dirname(name); d !== '.'; d = path.dirname(d)) dirs.add(d);
  return [
    ...[...dirs].sort().map((d): Entry => ({ name: d, type: 'directory', mode: 0o755 })),
    ...[...files].map(([name, host]): Entry => ({ name, type: 'file', mode: 0o755, content: fs.readFileSync(fs.realpathSync(host)) })),
  ];
}

export interface BuiltStemcell {
  /** The stemcell tarball (what an operator uploads). */
  tarball: string;
  /** The extracted `image` file (what create_stemcell receives). */
  imagePath: string;
  /** stemcell.MF's cloud_properties (create_stemcell's second argument). */
  cloudProperties: Record<string, string>;
  dir: string;
}

const BUSYBOX = '/bin/busybox';

const INIT_SCRIPT = `#!/bin/sh
# Test stand-in for an init: stays up, records that it started, stops promptly on SIGTERM.
trap 'exit 0' TERM INT
mkdir -p /var/vcap/data/sys
date +%s >> /var/vcap/data/sys/boots
while :; do sleep 1 & wait $!; done
`;

function busyboxApplets(): string[] {
  if (!fs.existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (apt-get install -y busybox-static)`);
  }
  return execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'busybox' && /^[a-z0-9_.[-]+$/.test(s));
}

type Entry = { name: string; type: 'directory' | 'file' | 'symlink'; mode?: number; content?: Buffer; linkname?: string };

function rootfsEntries(opts: StemcellOptions): Entry[] {
  const entries: Entry[] = [];
  const dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'lib', 'etc', 'tmp', 'proc', 'sys', 'dev', 'run', 'root', 'var', 'var/vcap', 'var/vcap/bosh', 'var/vcap/data', 'var/vcap/store', 'warden-cpi-dev'];
  for (const d of dirs) entries.push({ name: d, type: 'directory', mode: d === 'tmp' ? 0o1777 : 0o755 });
  entries.push({ name: 'bin/busybox', type: 'file', mode: 0o755, content: fs.readFileSync(BUSYBOX) });
  for (const applet of busyboxApplets()) entries.push({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' });
  entries.push({ name: 'etc/passwd', type: 'file', mode: 0o644, content: Buffer.from('root:x:0:0:root:/root:/bin/sh\nvcap:x:1000:1000:vcap:/home/vcap:/bin/sh\n') });
  entries.push({ name: 'etc/group', type: 'file', mode: 0o644, content: Buffer.from('root:x:0:\nvcap:x:1000:\n') });
  entries.push({ name: 'etc/hostname', type: 'file', mode: 0o644, content: Buffer.from('stemcell\n') });
  const init = opts.init ?? 'runit';
  if (init === 'runit' || init === 'both') {
    entries.push({ name: 'usr/sbin/runsvdir-start', type: 'file', mode: 0o755, content: Buffer.from(INIT_SCRIPT) });
  }
  if (init === 'systemd' || init === 'both') {
    entries.push({ name: 'lib/systemd', type: 'directory', mode: 0o755 });
    entries.push({ name: 'lib/systemd/systemd', type: 'file', mode: 0o755, content: Buffer.from(INIT_SCRIPT) });
    entries.push({ name: 'sbin/init', type: 'symlink', linkname: '../lib/systemd/systemd' });
  }
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    entries.push({ name, type: 'file', mode: 0o644, content: Buffer.from(content) });
  }
  const executables = Object.entries(opts.executables ?? {});
  return [
    ...hostToolEntries(opts.hostTools ?? {}).filter((e) => !(e.type === 'directory' && entries.some((x) => x.name === e.name))),
    ...entries.filter((e) => !executables.some(([name]) => name === e.name)),
    ...executables.map(([name, content]): Entry => ({ name, type: 'file', mode: 0o755, content: Buffer.from(content) })),
  ];
}

/** Writes a gzipped tar of `entries` to `file`. */
export async function writeTarGz(file: string, entries: Entry[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, zlib.createGzip(), fs.createWriteStream(file));
  for (const e of entries) {
    const header = { name: e.name, type: e.type, mode: e.mode ?? 0o644, linkname: e.linkname, mtime: new Date(0) };
    await new Promise<void>((resolve, reject) => pack.entry(header, e.type === 'file' ? (e.content ?? Buffer.alloc(0)) : Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
}

function manifestYaml(name: string, version: string, sha1: string, cp: Record<string, string>): string {
  const props = Object.entries(cp)
    .map(([k, v]) => `  ${k}: '${v}'`)
    .join('\n');
  return `name: ${name}\nversion: '${version}'\nbosh_protocol: 1\napi_version: 3\nsha1: ${sha1}\noperating_system: busybox\nstemcell_formats:\n- warden-tar\n- general-tar\ncloud_properties:\n${props}\n`;
}

export async function buildStemcell(opts: StemcellOptions = {}, parent = os.tmpdir()): Promise<BuiltStemcell> {
  const dir = fs.mkdtempSync(path.join(parent, 'busybox-stemcell-'));
  // Readable by everyone: tests also run the CPI as a non-root user.
  fs.chmodSync(dir, 0o755);
  const name = opts.name ?? `bosh-busybox-${opts.init ?? 'runit'}-test`;
  const version = opts.version ?? '0.1';
  const imagePath = path.join(dir, 'image');
  await writeTarGz(imagePath, rootfsEntries(opts));
  const sha1 = createHash('sha1').update(fs.readFileSync(imagePath)).digest('hex');
  const cloudProperties = {
    name,
    version,
    infrastructure: 'warden',
    hypervisor: 'warden',
    architecture: 'x86_64',
    os_type: 'linux',
    os_distro: 'busybox',
  };
  const mf = manifestYaml(name, version, sha1, cloudProperties);
  const tarball = path.join(dir, `${name}-${version}.tgz`);
  await writeTarGz(tarball, [
    { name: 'stemcell.MF', type: 'file', content: Buffer.from(mf) },
    { name: 'image', type: 'file', content: fs.readFileSync(imagePath) },
  ]);
  return { tarball, imagePath, cloudProperties, dir };
}
