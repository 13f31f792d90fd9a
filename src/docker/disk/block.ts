/**
 * Disk mode `block`: persistent disks reach the VM as block devices, which its agent mounts
 * itself, as on an IaaS VM. The bosh-agent of warden-style stemcells otherwise bind-mounts the
 * disk's directory and reads mounts from the `mount` command; its disk migration (a size change)
 * then refuses the device because the CPI's attach point also shows it (see README, Disks).
 *
 * - The disk's ext4 image is bound to a loop device on the Docker host; a device node for it is
 *   made in the VM's disk directory, so it appears at /warden-cpi-dev/<disk cid> in the running
 *   container (the agent's disk hint, as before) — live, no restart.
 * - Each block VM owns BLOCK_SLOTS loop minors, fixed when it is created: its container's device
 *   cgroup allows exactly those (DeviceCgroupRules: the same on cgroup v1 and v2), and it runs
 *   without CAP_MKNOD. A container with CAP_SYS_ADMIN can mount devtmpfs and so reach every
 *   device node of the host; the cgroup is what keeps it to its own disks.
 * - A slot that holds no disk is bound, read-only, to the VM's empty guard file: a free loop
 *   device in a VM's range could otherwise be handed out by `losetup -f` to someone else and so
 *   show that VM another's data.
 * - The agent runs with a configuration that mounts devices (BindMountPersistentDisk false, see
 *   vm/agent-config.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudError } from '../../rpc/errors';
import type { DockerContext } from '../context';
import type { ContainerInspect } from '../engine/types';
import { findVm } from '../vm/find';
import { L } from '../labels';
import { run } from './host';
import { imagePath } from './image';
import { bindLoop, devNumbers, LOOP_MAJOR, LoopBusy, loopBacking, loopDetachPending, loopsBacking, unbindLoop } from './loop';
import type { DiskVolume } from './volumes';

/** Disks a block VM can hold at once: a disk migration holds two. */
export const BLOCK_SLOTS = 4;
/** Block VMs' loop minors start far above the few devices `losetup -f` normally hands out. */
const FIRST_MINOR = 2048;
const MAX_RANGES = 8192;
const GUARD_FILE = 'loop-guard';
const GUARD_BYTES = 1024 * 1024;

/** The loop minors a block VM's label names, in slot order. */
function minorsOf(label: string | undefined): number[] {
  return (label ?? '')
    .split(',')
    .map((s) => Number(s))
    .filter((n) => Number.isInteger(n) && n >= FIRST_MINOR);
}

/** The loop minors a block VM's container owns. */
export function slotsOf(c: ContainerInspect): number[] {
  return minorsOf(c.Config?.Labels?.[L.blockMinors]);
}

export function deviceRules(minors: number[]): string[] {
  return minors.map((m) => `b ${LOOP_MAJOR}:${m} rwm`);
}

export function guardFile(vmDir: string): string {
  return path.join(vmDir, GUARD_FILE);
}

function real(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}

/** Block VM containers on this engine (every CPI installation's: the labels are the truth). */
function blockContainers(ctx: DockerContext): Promise<Array<{ Labels?: Record<string, string> }>> {
  return ctx.engine.request('GET', '/containers/json', { query: { all: true, filters: { label: [L.blockMinors] } } });
}

/**
 * Guards of VMs whose containers are gone without a delete_vm (`docker rm`): their loop devices
 * would stay bound for good. Only this engine's VMs under this state directory are looked at (the
 * new VM's siblings): another engine's VMs on the same host are not this engine's to judge.
 */
async function sweepOrphanGuards(vmDir: string, live: Set<string>): Promise<void> {
  const vmsDir = real(path.dirname(vmDir));
  let names: string[];
  try {
    names = fs.readdirSync('/sys/block').filter((d) => /^loop\d+$/.test(d) && Number(d.slice(4)) >= FIRST_MINOR);
  } catch {
    return;
  }
  for (const d of names) {
    const m = Number(d.slice(4));
    const file = loopBacking(m)?.replace(/ \(deleted\)$/, '');
    if (!file || path.basename(file) !== GUARD_FILE || path.dirname(path.dirname(file)) !== vmsDir) continue;
    const cid = path.basename(path.dirname(file));
    // A create_vm still running holds its guards before its container exists (its marker says so).
    if (live.has(cid) || fs.existsSync(path.join(path.dirname(vmsDir), 'creating', cid))) continue;
    await unbindLoop(m).catch(() => undefined);
  }
}

async function releaseOwn(minors: number[], guard: string): Promise<void> {
  await Promise.all(minors.filter((m) => loopBacking(m) === guard).map(unbindLoop));
}

/**
 * Claims BLOCK_SLOTS loop minors for a new VM whose record directory is `vmDir`, each bound to
 * its guard file. The bind is the claim (the kernel refuses a bound device), so two create_vm
 * calls never share a range; ranges other containers name are skipped even while unbound (a
 * stopped VM, or one whose devices went with a reboot of the host).
 */
export async function reserveSlots(ctx: DockerContext, vmDir: string): Promise<number[]> {
  const owners = await blockContainers(ctx);
  await sweepOrphanGuards(vmDir, new Set(owners.map((c) => c.Labels?.[L.vmCid]).filter((v): v is string => !!v)));
  const guard = guardFile(vmDir);
  const fd = fs.openSync(guard, 'wx', 0o600);
  try {
    fs.ftruncateSync(fd, GUARD_BYTES);
  } finally {
    fs.closeSync(fd);
  }
  const realGuard = real(guard);
  const taken = new Set(owners.flatMap((c) => minorsOf(c.Labels?.[L.blockMinors])));
  for (let r = 0; r < MAX_RANGES; r++) {
    const minors = Array.from({ length: BLOCK_SLOTS }, (_, i) => FIRST_MINOR + r * BLOCK_SLOTS + i);
    if (minors.some((m) => taken.has(m) || loopBacking(m) !== undefined)) continue;
    // One losetup each, side by side; a range with any minor taken meanwhile is given back whole.
    const binds = await Promise.allSettled(minors.map((m) => bindLoop(m, guard, true)));
    const failed = binds.find((b): b is PromiseRejectedResult => b.status === 'rejected');
    if (!failed) return minors;
    await releaseOwn(minors, realGuard);
    if (!(failed.reason instanceof LoopBusy)) throw failed.reason;
  }
  throw new CloudError(`no free range of ${BLOCK_SLOTS} loop devices for a block-mode VM on this Docker host`);
}

/** Unbinds a VM's slots (guard or disk) once its container is gone; another's binding is never touched. */
export async function releaseSlots(minors: number[], vmDir: string, diskDir: string | undefined): Promise<void> {
  const own = new Set([real(guardFile(vmDir)), ...nodesIn(diskDir).map((n) => n.image).filter((x): x is string => !!x)]);
  await Promise.all(minors.filter((m) => own.has(loopBacking(m) ?? '')).map(unbindLoop));
}

/** delete_vm's part, from the container's label: its slots go once the container is gone. */
export function releaseBlockVm(label: string, vmDir: string, diskDir: string | undefined): Promise<void> {
  return releaseSlots(minorsOf(label), vmDir, diskDir);
}

interface Node {
  disk: string;
  minor: number;
  /** The image file the node's loop device is bound to now. */
  image: string | undefined;
}

/** The disk device nodes in a VM's disk directory. */
function nodesIn(diskDir: string | undefined): Node[] {
  if (!diskDir) return [];
  let names: string[];
  try {
    names = fs.readdirSync(diskDir);
  } catch {
    return [];
  }
  const out: Node[] = [];
  for (const disk of names) {
    try {
      const st = fs.lstatSync(path.join(diskDir, disk));
      if (!st.isBlockDevice()) continue;
      const { major, minor } = devNumbers(st.rdev);
      if (major === LOOP_MAJOR) out.push({ disk, minor, image: loopBacking(minor) });
    } catch {
      /* removed meanwhile */
    }
  }
  return out;
}

/** The disks a block VM has attached: its device nodes. */
export function blockDisks(diskDir: string | undefined): string[] {
  return nodesIn(diskDir).map((n) => n.disk);
}

/** Binds free slots back to the guard: a detach whose device was still open finished since. */
function healSlots(minors: number[], guard: string): Promise<void[]> {
  return Promise.all(minors.filter((m) => loopBacking(m) === undefined).map((m) => bindLoop(m, guard, true).catch(() => undefined)));
}

/** Makes `disk` appear at /warden-cpi-dev/<cid> in the VM as a block device. Idempotent. */
export async function attachBlock(c: ContainerInspect, vmDir: string, diskDir: string, disk: DiskVolume): Promise<void> {
  if (disk.backing !== 'image') {
    throw new CloudError(
      `disk ${disk.cid} is a directory disk (made where the CPI could not make ext4 images, or by the Go Docker CPI); VM ${c.Config?.Labels?.[L.vmCid]} presents disks as block devices, which its agent mounts itself. Create the VM with the disk (create_vm disk_cids) to get directory presentation, or copy the data to an image disk`,
    );
  }
  const minors = slotsOf(c);
  const guard = real(guardFile(vmDir));
  await healSlots(minors, guardFile(vmDir));
  const image = real(imagePath(disk.mountpoint));
  const node = path.join(diskDir, disk.cid);
  const mine = minors.find((m) => loopBacking(m) === image);
  if (mine !== undefined && nodesIn(diskDir).some((n) => n.disk === disk.cid && n.minor === mine)) return;
  const users = loopsBacking(image).filter((m) => m !== mine);
  if (users.length) throw new CloudError(`disk ${disk.cid} is still in use (${users.map((m) => `/dev/loop${m}`).join(', ')}); detach it from its VM first`);
  let minor = mine;
  if (minor === undefined) {
    minor = minors.find((m) => loopBacking(m) === guard);
    if (minor === undefined) throw new CloudError(`VM ${c.Config?.Labels?.[L.vmCid]} has no free disk slot: all ${minors.length} of its block devices hold disks`);
    // From the guard to the disk: the only moment the device is unbound (two losetup calls apart).
    await unbindLoop(minor);
    await bindLoop(minor, image);
  }
  fs.rmSync(node, { recursive: true, force: true });
  await run('mknod', ['-m', '0600', node, 'b', String(LOOP_MAJOR), String(minor)]);
}

/**
 * Removes the disk's device node and gives its slot back to the guard. A filesystem the VM still
 * has mounted keeps the device (and the image) in use until it is unmounted there: the disk
 * cannot be attached elsewhere or deleted meanwhile. Returns whether that was the case.
 */
export async function detachBlock(c: ContainerInspect, vmDir: string, diskDir: string, diskCid: string): Promise<boolean> {
  const node = nodesIn(diskDir).find((n) => n.disk === diskCid);
  fs.rmSync(path.join(diskDir, diskCid), { recursive: true, force: true });
  if (!node || !slotsOf(c).includes(node.minor)) return false;
  await unbindLoop(node.minor);
  if (loopDetachPending(node.minor)) return true;
  await bindLoop(node.minor, guardFile(vmDir), true).catch(() => undefined);
  return false;
}

/** Where the disk's device node is, for a VM under this CPI's state dir (either layout). */
export function blockNodeOf(stateRoot: string, diskCid: string): { vm: string; node: string } | undefined {
  const vmsDirs: string[] = [path.join(stateRoot, 'vms')];
  try {
    for (const e of fs.readdirSync(path.join(stateRoot, 'engines'))) vmsDirs.push(path.join(stateRoot, 'engines', e, 'vms'));
  } catch {
    /* no engine records yet */
  }
  for (const dir of vmsDirs) {
    let vms: string[];
    try {
      vms = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const vm of vms) {
      const node = path.join(dir, vm, 'disks', diskCid);
      try {
        if (fs.lstatSync(node).isBlockDevice()) return { vm, node };
      } catch {
        /* not this VM's */
      }
    }
  }
  return undefined;
}

/**
 * The block VM whose loop device still holds `image` although its node is gone (a detach while
 * the VM had the filesystem mounted): the disk is in use there until the VM unmounts it.
 */
export async function blockUser(ctx: DockerContext, image: string): Promise<string | undefined> {
  const minors = loopsBacking(image);
  if (!minors.length) return undefined;
  const owner = (await blockContainers(ctx)).find((c) => minorsOf(c.Labels?.[L.blockMinors]).some((m) => minors.includes(m)));
  return owner?.Labels?.[L.vmCid];
}

/** A node left by a VM whose container was removed behind the CPI's back: its devices go too. */
export async function releaseOrphanNode(node: string, image: string): Promise<void> {
  const { minor } = devNumbers(fs.lstatSync(node).rdev);
  fs.rmSync(node, { force: true });
  if (loopBacking(minor) === real(image)) await unbindLoop(minor);
  for (const m of loopsBacking(guardFile(path.dirname(path.dirname(node))))) await unbindLoop(m);
}

/**
 * Where a block disk's filesystem is mounted inside its VM, as a path the Docker host can reach
 * (/proc/<pid>/root/…), for snapshot_disk's freeze; undefined when the VM has it unmounted.
 */
export async function blockMountPath(ctx: DockerContext, diskCid: string, image: string): Promise<string | undefined> {
  const at = blockNodeOf(ctx.state.root, diskCid);
  const c = at && (await findVm(ctx, at.vm));
  const pid = c?.State?.Pid;
  if (!pid) return undefined;
  const devs = new Set(loopsBacking(image).map((m) => `${LOOP_MAJOR}:${m}`));
  let lines: string[];
  try {
    lines = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const line = lines.find((l) => devs.has(l.split(' ')[2] ?? ''));
  const mountPoint = line?.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mountPoint ? `/proc/${pid}/root${mountPoint}` : undefined;
}
