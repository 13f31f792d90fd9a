/**
 * Disks on an engine that cannot see this machine's files (a remote host): everything that
 * touches the disk's data runs on the engine's host, in a short-lived helper container
 * made from a stemcell image there (real stemcells carry mount, losetup, fsfreeze and e2fsprogs),
 * with CAP_SYS_ADMIN and the loop devices.
 *
 * Each remote-mode VM binds `<hub>/<vm cid>` of the engine's host at /warden-cpi-dev with rslave
 * propagation; the hub is `<engine data root>/bosh-cpi/vms`. A helper binds the hub with rshared
 * propagation and mounts a disk at /hub/<vm>/<disk>: the mount propagates to the host and from
 * there into the running VM (the same mechanism as the local helper mode, on the engine's side).
 * The hub is inside the engine's data root, which dockerd keeps a shared mount of its own (it
 * makes it one at start when the host's is private), so the host's own propagation does not
 * matter; the probe proves the path anyway. Loop devices are needed for sized disks; where the
 * probe fails, disks attach by recreating the container.
 *
 * Every value reaches the helper's shell as a positional argument, never as script text. The
 * engine's mount table, read by the helper, is the truth of what is attached where.
 */
import type { DockerContext } from '../context';
import { CloudError } from '../../rpc/errors';
import { runHelper } from '../engine/helper';
import { DEV_PATH } from '../state/place';
import { findDisk, type Backing, type DiskVolume } from './volumes';

/** Exit codes the scripts use to say why they stopped. */
const IN_USE = 3;
const NO_TOOL = 4;
const SHRINK = 5;

/** The engine host's directory holding each remote-mode VM's disk directory. */
export async function hubDir(ctx: DockerContext): Promise<string> {
  const root = (await ctx.engineInfo()).DockerRootDir ?? '/var/lib/docker';
  return `${root.replace(/\/+$/, '')}/bosh-cpi/vms`;
}

/** The VM's bind of its disk directory (Binds, not Mounts: the engine creates the directory). */
export async function vmDiskBind(ctx: DockerContext, vmCid: string): Promise<string> {
  return `${await hubDir(ctx)}/${vmCid}:${DEV_PATH}:rslave`;
}

interface Work {
  image: string;
  /** What the helper does (its name in errors and logs). */
  what: string;
  script: string;
  args: string[];
  /** Volumes by target: /disk, /snap. */
  volumes?: Record<string, string>;
  /** The hub bound a second time at /mirror, rslave: as a VM sees it. */
  mirror?: boolean;
}

// awk programs over the helper's mount table: field 5 is the mount point.
const MOUNTED_AT = `awk -v t="$T" '$5 == t {f = 1} END {exit !f}' /proc/self/mountinfo`;
/** Prints the VM (first path element under /hub) where disk $D is mounted, if any. */
const HOLDER = `awk -v d="$D" '{ n = split($5, p, "/"); if (n == 4 && p[2] == "hub" && p[4] == d) { print p[3]; exit } }' /proc/self/mountinfo`;
/**
 * A container's /dev is its own: the loop devices the kernel hands out (through loop-control)
 * have no nodes there. The next free one and a few after it (concurrent helpers) get nodes, so
 * `mount -o loop` (which sets autoclear: the device goes with the last unmount) can use them.
 */
const LOOP_NODES = `n=$(losetup -f 2>/dev/null | sed 's|^/dev/loop||'); case "$n" in ''|*[!0-9]*) n=0;; esac
for i in 0 1 2 3 4 5 6 7; do [ -b "/dev/loop$((n + i))" ] || mknod "/dev/loop$((n + i))" b 7 $((n + i)); done`;

/** Unmounts $T until nothing is stacked there, lazily when busy. */
const UNMOUNT = `i=0; while ${MOUNTED_AT} && [ $i -lt 8 ]; do umount "$T" 2>/dev/null || umount -l "$T"; i=$((i + 1)); done`;

export interface RemoteResult {
  code: number;
  output: string;
}

/** Runs `w` on the engine's host; exit codes other than 0 are returned for the caller to name. */
async function onHost(ctx: DockerContext, w: Work): Promise<RemoteResult> {
  const mounts = Object.entries(w.volumes ?? {}).map(([target, source]) => ({ Type: 'volume', Source: source, Target: target }));
  const r = await runHelper(ctx, {
    image: w.image,
    cmd: ['/bin/sh', '-c', w.script, 'bosh-cpi-helper', ...w.args],
    mounts,
    binds: [`${await hubDir(ctx)}:/hub:rshared`, ...(w.mirror ? [`${await hubDir(ctx)}:/mirror:rslave`] : [])],
    // Not privileged (some engines refuse it): mount and fsfreeze need CAP_SYS_ADMIN, loop
    // mounts the loop control device and loop devices (block major 7), made on demand.
    capAdd: ['SYS_ADMIN'],
    devices: ['/dev/loop-control'],
    deviceRules: ['c 10:237 rwm', 'b 7:* rwm'],
    labels: ctx.labels({ 'bosh.cpi.helper': 'remote-disk' }),
  });
  ctx.log.debug('remote disk helper', { what: w.what, exit: r.code });
  return r;
}

/** The helper's image lacks a program the work needs (a light stemcell, say). */
export class HelperLacksTool extends CloudError {}

function failed(w: string, r: RemoteResult): CloudError {
  if (r.code === NO_TOOL) return new HelperLacksTool(`${w}: the stemcell image used as the engine host's helper lacks a tool it needs: ${r.output}`);
  return new CloudError(`${w}: the disk helper container on the engine failed (exit ${r.code}): ${r.output}`);
}

/**
 * Whether this engine can attach disks live: one helper with the hub bound rshared and the loop
 * devices. Refusals name the reason (a host whose mounts do not propagate, no loop devices).
 */
export async function probeLive(ctx: DockerContext, image: string): Promise<{ live: boolean; reason?: string }> {
  // A mount under the rshared bind must reach a second, rslave bind of the same host directory:
  // the path a disk takes (helper → host → VM). It does only where the host's mount is shared.
  const script = `test -c /dev/loop-control || { echo "the engine's host has no /dev/loop-control"; exit 1; }
P="/hub/.probe-$1"; mkdir -p "$P" && mount -t tmpfs bosh-cpi-probe "$P" || exit 1
grep -q " /mirror/.probe-$1 " /proc/self/mountinfo; r=$?
umount "$P"; rmdir "$P"
[ $r -eq 0 ] || echo "a mount under the engine's data root does not propagate on its host: the mount is private, not shared"
exit $r`;
  try {
    const r = await onHost(ctx, { image, what: 'probe', script, args: [Math.random().toString(36).slice(2)], mirror: true });
    return r.code === 0 ? { live: true } : { live: false, reason: r.output || `the probe helper exited ${r.code}` };
  } catch (e) {
    const msg = (e as Error).message;
    if (/shared|slave|loop-control|device|no such file|permission|operation not permitted/i.test(msg)) return { live: false, reason: msg };
    throw e;
  }
}

/** A sparse file of `sizeMiB` holding a fresh ext4, made in the disk's volume on the engine's host. */
export async function makeImage(ctx: DockerContext, image: string, diskCid: string, sizeMiB: number): Promise<void> {
  const script = `set -e
command -v mkfs.ext4 >/dev/null 2>&1 || { echo "mkfs.ext4 (e2fsprogs)"; exit ${NO_TOOL}; }
truncate -s "$1M" /disk/disk.img
mkfs.ext4 -q -F -m 0 -E lazy_itable_init=1,lazy_journal_init=1 -L bosh-disk /disk/disk.img 2>&1`;
  const r = await onHost(ctx, { image, what: 'make disk', script, args: [String(sizeMiB)], volumes: { '/disk': diskCid } });
  if (r.code !== 0) throw failed('create_disk', r);
}

/** Mounts the disk at the VM's directory; refuses (naming it) when another VM has it mounted. */
export async function mountRemote(ctx: DockerContext, image: string, vmCid: string, disk: DiskVolume): Promise<void> {
  const script = `set -e
V="$1"; D="$2"; T="/hub/$1/$2"
other=$(${HOLDER})
if [ -n "$other" ] && [ "$other" != "$V" ]; then echo "$other"; exit ${IN_USE}; fi
if ${MOUNTED_AT}; then exit 0; fi
mkdir -p "$T"
if [ "$3" != image ]; then exec mount -o bind /disk "$T"; fi
${LOOP_NODES}
mount -o loop,noatime /disk/disk.img "$T"`;
  const r = await onHost(ctx, { image, what: 'attach', script, args: [vmCid, disk.cid, disk.backing], volumes: { '/disk': disk.cid } });
  if (r.code === IN_USE) throw new CloudError(`attach_disk: disk ${disk.cid} is attached to VM ${r.output}; detach it first`);
  if (r.code !== 0) throw failed('attach_disk', r);
}

/** Mounts again what the VM's settings say it has (after its host restarted); each mount is idempotent. */
export async function remountRemote(ctx: DockerContext, image: string, vmCid: string, diskCids: string[]): Promise<void> {
  for (const cid of diskCids) {
    const disk = await findDisk(ctx, cid);
    if (disk) await mountRemote(ctx, image, vmCid, disk);
    else ctx.log.warn('a disk the VM\'s settings name is gone', { vm: vmCid, disk: cid });
  }
}

/** Unmounts the disk from the VM's directory (idempotent). */
export async function unmountRemote(ctx: DockerContext, image: string, vmCid: string, diskCid: string): Promise<void> {
  const script = `T="/hub/$1/$2"
${UNMOUNT}
if ${MOUNTED_AT}; then echo "still mounted at $T"; exit 1; fi
rmdir "$T" 2>/dev/null; exit 0`;
  const r = await onHost(ctx, { image, what: 'detach', script, args: [vmCid, diskCid] });
  if (r.code !== 0) throw failed('detach_disk', r);
}

/** The disks mounted in the VM's directory on the engine's host. */
export async function listRemote(ctx: DockerContext, image: string, vmCid: string): Promise<string[]> {
  const script = `awk -v v="$1" '{ n = split($5, p, "/"); if (n == 4 && p[2] == "hub" && p[3] == v) print p[4] }' /proc/self/mountinfo`;
  const r = await onHost(ctx, { image, what: 'list', script, args: [vmCid] });
  if (r.code !== 0) throw failed('get_disks', r);
  return [...new Set(r.output.split('\n').filter(Boolean))];
}

/** delete_vm's part: every disk mount of the VM goes, and its directory; data stays in the volumes. */
export async function releaseRemote(ctx: DockerContext, image: string, vmCid: string): Promise<void> {
  const script = `for T in /hub/"$1"/*; do [ -d "$T" ] || continue; ${UNMOUNT}; rmdir "$T" 2>/dev/null; done
rmdir "/hub/$1" 2>/dev/null; exit 0`;
  const r = await onHost(ctx, { image, what: 'release', script, args: [vmCid] });
  if (r.code !== 0) throw failed('delete_vm', r);
}

/** The VM that has the disk mounted on the engine's host, from the host's mount table. */
export async function remoteHolder(ctx: DockerContext, image: string, diskCid: string): Promise<string | undefined> {
  const r = await onHost(ctx, { image, what: 'holder', script: `D="$1"; ${HOLDER}`, args: [diskCid] });
  if (r.code !== 0) throw failed('disk check', r);
  return r.output.trim() || undefined;
}

/**
 * Grows a detached image: checked, extended, resized, all on the engine's host. Returns the
 * size before; refuses shrinking (naming the current size) and a disk mounted anywhere.
 */
export async function growRemote(ctx: DockerContext, image: string, diskCid: string, sizeMiB: number): Promise<void> {
  const script = `set -e
D="$2"; other=$(${HOLDER})
if [ -n "$other" ]; then echo "$other"; exit ${IN_USE}; fi
command -v resize2fs >/dev/null 2>&1 && command -v e2fsck >/dev/null 2>&1 || { echo "e2fsck and resize2fs (e2fsprogs)"; exit ${NO_TOOL}; }
cur=$(( $(stat -c %s /disk/disk.img) / 1048576 ))
if [ "$1" -lt "$cur" ]; then echo "$cur"; exit ${SHRINK}; fi
[ "$1" -eq "$cur" ] && exit 0
e2fsck -f -y /disk/disk.img >/dev/null 2>&1 || [ $? -eq 1 ]
truncate -s "$1M" /disk/disk.img
resize2fs /disk/disk.img "$1M" 2>&1`;
  const r = await onHost(ctx, { image, what: 'resize', script, args: [String(sizeMiB), diskCid], volumes: { '/disk': diskCid } });
  if (r.code === IN_USE) throw new CloudError(`resize_disk: disk ${diskCid} is attached to VM ${r.output}; detach it first`);
  if (r.code === SHRINK) throw new ShrinkRefused(Number(r.output));
  if (r.code !== 0) throw failed('resize_disk', r);
}

export class ShrinkRefused extends Error {
  constructor(readonly currentMiB: number) {
    super(`the disk is ${currentMiB} MiB`);
  }
}

/**
 * Copies the disk into the snapshot volume on the engine's host. A mounted image is frozen for
 * the copy (consistent, point in time) and thawed on every way out of the script; a helper that
 * dies frozen is followed by a thaw.
 */
export async function snapshotRemote(ctx: DockerContext, image: string, disk: DiskVolume, snapCid: string): Promise<void> {
  const script = `set -e
D="$1"; vm=$(${HOLDER}); M="/hub/$vm/$1"
if [ "$2" = image ]; then
  if [ -n "$vm" ]; then fsfreeze --freeze "$M"; trap 'fsfreeze --unfreeze "$M"' EXIT; fi
  cp --sparse=always /disk/disk.img /snap/disk.img 2>/dev/null || cp /disk/disk.img /snap/disk.img
else
  cp -a /disk/. /snap/
fi`;
  const r = await onHost(ctx, { image, what: 'snapshot', script, args: [disk.cid, disk.backing], volumes: { '/disk': disk.cid, '/snap': snapCid } }).catch(async (e: unknown) => {
    if (disk.backing === 'image') await thaw(ctx, image, disk.cid);
    throw e;
  });
  if (r.code !== 0) {
    if (disk.backing === 'image') await thaw(ctx, image, disk.cid);
    throw failed('snapshot_disk', r);
  }
}

async function thaw(ctx: DockerContext, image: string, diskCid: string): Promise<void> {
  const script = `D="$1"; vm=$(${HOLDER}); [ -n "$vm" ] && fsfreeze --unfreeze "/hub/$vm/$1" 2>/dev/null; exit 0`;
  await onHost(ctx, { image, what: 'thaw', script, args: [diskCid] }).catch((e: unknown) => ctx.log.warn('could not thaw a disk after a failed snapshot', { disk: diskCid, error: (e as Error).message }));
}

export type { Backing };
