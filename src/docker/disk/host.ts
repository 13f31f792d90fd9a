/**
 * Mounts on the Docker host, made by the CPI itself when it runs there as root: the fast, live
 * path for persistent disks (a few milliseconds per mount, no container restart).
 *
 * The per-VM disk directory is a shared mount point on the host and is bind-mounted into the
 * container at /warden-cpi-dev with rslave propagation, so a mount made under it on the host
 * appears inside the running container, and an unmount disappears from it.
 */
import type * as ChildProcess from 'node:child_process';
import * as fs from 'node:fs';
import { CloudError } from '../../rpc/errors';

const TIMEOUT_MS = 60_000;

export class HostCommandError extends CloudError {}

/** Runs a host tool (mount, umount, mkfs.ext4, resize2fs …) with a clean environment. */
export function run(cmd: string, args: string[], timeoutMs = TIMEOUT_MS, okCodes: readonly number[] = [0]): Promise<string> {
  // Required here: delete_vm reads the mount table through this module, and most of its calls
  // run no command at all.
  const { execFile } = require('node:child_process') as typeof ChildProcess;
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
        if (okCodes.includes(code)) return resolve(stdout);
        const why = (stderr || (err as Error).message).trim().split('\n').slice(-3).join('; ');
        reject(new HostCommandError(`${cmd} ${args.join(' ')} failed: ${why}`));
      },
    );
  });
}

export interface MountEntry {
  mountPoint: string;
  /** "shared:N", "master:N" … from the optional fields. */
  propagation: string[];
  fsType: string;
  source: string;
  /** Per-mount options (rw, nodev, …). */
  options: string[];
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mount table of this process's mount namespace (the host's, for a CPI on the host). */
export function mountTable(): MountEntry[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    const f = (left ?? '').split(' ');
    const r = (right ?? '').split(' ');
    out.push({ mountPoint: unescape(f[4] ?? ''), propagation: f.slice(6), fsType: r[0] ?? '', source: unescape(r[1] ?? ''), options: (f[5] ?? '').split(',') });
  }
  return out;
}

export function isMountPoint(dir: string, table = mountTable()): boolean {
  return table.some((m) => m.mountPoint === dir);
}

/** The mount holding `path` (the longest mount point that prefixes it). */
export function mountOf(path: string, table = mountTable()): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of table) {
    const prefix = m.mountPoint === '/' ? '/' : `${m.mountPoint}/`;
    if ((path === m.mountPoint || path.startsWith(prefix)) && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export function isShared(entry: MountEntry | undefined): boolean {
  return !!entry && entry.propagation.some((p) => p.startsWith('shared:'));
}

/**
 * Makes `dir` a mount point of its own, in a peer group of its own, shared. One mount(8) call:
 * it applies the propagation changes in order after the bind (util-linux ≥ 2.23).
 */
export async function makeSharedMountPoint(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  if (!isMountPoint(dir)) await run('mount', ['--bind', '--make-private', '--make-shared', dir, dir]);
  else await run('mount', ['--make-private', '--make-shared', dir]);
}

export async function bindMount(source: string, target: string): Promise<void> {
  fs.mkdirSync(target, { recursive: true });
  await run('mount', ['--bind', source, target]);
}

/** Loop-mounts an ext4 image; the loop device goes with the last unmount (autoclear). */
export async function loopMount(image: string, target: string): Promise<void> {
  fs.mkdirSync(target, { recursive: true });
  await run('mount', ['-t', 'ext4', '-o', 'loop,noatime', image, target]);
}

/** Unmounts `target` if mounted; lazily when still busy (the agent may hold it a moment longer). */
export async function unmount(target: string): Promise<boolean> {
  if (!isMountPoint(target)) return false;
  try {
    await run('umount', [target]);
  } catch (e) {
    if (!/busy/i.test((e as Error).message)) throw e;
    await run('umount', ['-l', target]);
  }
  return true;
}

/** Unmounts everything at or below `dir`, deepest first. */
export async function unmountTree(dir: string): Promise<void> {
  const below = mountTable()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of new Set(below)) {
    // Mounts can be stacked (a self-bind under a loop mount): until none is left.
    for (let i = 0; i < 8 && (await unmount(p)); i++);
  }
}

/** Whether the CPI can make mounts on the Docker host itself: it runs there, as root. */
export function canMountOnHost(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
