/**
 * attach_disk / detach_disk / get_disks: live where the VM's disk mode allows (see vm-dir.ts),
 * by recreating the container otherwise. A missing disk or VM is reported before anything is
 * touched; the settings file's disks.persistent follows every change, and the disk hint is
 * "/warden-cpi-dev/<disk cid>" (the warden/boshlite agent bind-mounts it to /var/vcap/store).
 *
 * Each call holds the VM's lock and then the disk's: concurrent attaches to one VM keep every
 * settings entry, and of two VMs attaching one disk exactly one gets it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DiskHint } from '../../cpi/schemas';
import { CloudError, DiskNotFound, VMNotFound } from '../../rpc/errors';
import { failpoint } from '../../runtime/failpoint';
import type { DockerContext } from '../context';
import { runHelper } from '../engine/helper';
import type { ContainerInspect, MountSpec } from '../engine/types';
import { L } from '../labels';
import type { AgentSettings } from '../settings/agent-settings';
import { SettingsStore } from '../settings/store';
import { placeOf, type VmPlace } from '../state/place';
import { findVm, settleJournal } from '../vm/find';
import { refreshObservedNetworks } from '../vm/lifecycle';
import { bindMount, isMountPoint, loopMount, mountTable, unmount } from './host';
import { imagePath } from './image';
import { attachBlock, blockDisks, blockNodeOf, blockUser, detachBlock, releaseOrphanNode } from './block';
import { recreateAttachments, recreateWithMounts } from './recreate';
import { listRemote, mountRemote, releaseRemote, remoteHolder, unmountRemote } from './remote';
import { helperImage, remoteLiveKnown } from './view';
import { DEV_PATH, hintFor, type DiskMode } from './vm-dir';
import { findDisk, type DiskVolume } from './volumes';

export function diskModeOf(c: ContainerInspect): DiskMode {
  return (c.Config.Labels?.[L.diskMode] as DiskMode | undefined) ?? 'recreate';
}

export function vmPlace(ctx: DockerContext, cid: string, c: ContainerInspect): VmPlace {
  return placeOf(ctx.state, cid, c, ctx.config.agent_settings_paths[0] as string);
}

/** Where `diskCid` is mounted for a VM under this CPI's state dir (either layout), from the host's mount table. */
export function mountedAt(ctx: DockerContext, diskCid: string): { vm: string; mountPoint: string } | undefined {
  const root = `${ctx.state.root}/`;
  const m = mountTable().find((e) => e.mountPoint.startsWith(root) && e.mountPoint.endsWith(`/disks/${diskCid}`) && /\/vms\/[^/]+\/disks\/[^/]+$/.test(e.mountPoint));
  return m ? { vm: path.basename(path.dirname(path.dirname(m.mountPoint))), mountPoint: m.mountPoint } : undefined;
}

/** VMs whose containers have the disk's volume mounted (recreate mode): the engine's own record. */
async function volumeUsers(ctx: DockerContext, diskCid: string): Promise<string[]> {
  const list = await ctx.engine.request<Array<{ Labels?: Record<string, string> }>>('GET', '/containers/json', { query: { all: true, filters: { volume: [diskCid] } } });
  return list.map((c) => c.Labels?.[L.vmCid]).filter((v): v is string => !!v);
}

/**
 * The VM holding `diskCid`. A mount left under a VM whose container was removed behind the
 * CPI's back (docker rm) holds nothing any more: it is released, so the disk can move on.
 */
export async function holder(ctx: DockerContext, diskCid: string, known: { remoteChecked?: boolean; disk?: DiskVolume } = {}): Promise<string | undefined> {
  const remoteChecked = known.remoteChecked ?? false;
  // The engine's records, asked side by side with the local checks below (the disk: unless the caller has it).
  const [usersAsked, diskAsked] = [volumeUsers(ctx, diskCid), known.disk ? Promise.resolve(known.disk) : findDisk(ctx, diskCid)];
  for (const p of [usersAsked, diskAsked]) p.catch(() => undefined); // awaited below, or moot
  if (!remoteChecked && (await remoteLiveKnown(ctx))) {
    const held = await remoteHeld(ctx, diskCid);
    if (held) return held;
  }
  const node = blockNodeOf(ctx.state.root, diskCid);
  if (node) {
    if (await findVm(ctx, node.vm)) return node.vm;
    const disk = await diskAsked;
    ctx.log.warn('releasing a disk device left by a VM that no longer exists', { vm: node.vm, disk: diskCid });
    await releaseOrphanNode(node.node, disk ? imagePath(disk.mountpoint) : '');
  }
  const at = mountedAt(ctx, diskCid);
  if (at) {
    if (await findVm(ctx, at.vm)) return at.vm;
    ctx.log.warn('releasing a disk mount left by a VM that no longer exists', { vm: at.vm, disk: diskCid });
    await unmount(at.mountPoint);
  }
  const users = await usersAsked;
  if (users[0]) return users[0];
  // Detached from a block VM that still has its filesystem mounted: in use there until unmounted.
  const disk = node ? undefined : await diskAsked;
  return disk?.backing === 'image' ? blockUser(ctx, imagePath(disk.mountpoint)) : undefined;
}

/** The VM holding the disk on a remote engine's host; a mount left by a VM removed behind the CPI's back is released. */
async function remoteHeld(ctx: DockerContext, diskCid: string): Promise<string | undefined> {
  const image = await helperImage(ctx);
  if (!image) return undefined; // no stemcell image: no VM either
  const vm = await remoteHolder(ctx, image, diskCid);
  if (!vm || (await findVm(ctx, vm))) return vm;
  ctx.log.warn('releasing a disk mount left by a VM that no longer exists', { vm, disk: diskCid });
  await unmountRemote(ctx, image, vm, diskCid);
  return undefined;
}

/**
 * Loop devices backed by an image: a disk in use, even when its mount is hidden in a container.
 * Read from sysfs rather than by running losetup: it is the same information, without a process.
 */
function loopUsers(image: string): string[] {
  const users: string[] = [];
  let devices: string[] = [];
  try {
    devices = fs.readdirSync('/sys/block').filter((d) => d.startsWith('loop'));
  } catch {
    return users;
  }
  for (const d of devices) {
    try {
      const backing = fs.readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').trim();
      if (backing === image) users.push(`/dev/${d}`);
    } catch {
      /* not set up */
    }
  }
  return users;
}

async function helper(ctx: DockerContext, c: ContainerInspect, place: VmPlace, disk: DiskVolume | undefined, script: string, diskCid: string): Promise<void> {
  const mounts: Array<Record<string, unknown>> = [{ Type: 'bind', Source: place.diskDir, Target: '/vmdisks', BindOptions: { Propagation: 'rshared' } }];
  if (disk) mounts.push({ Type: 'volume', Source: disk.cid, Target: '/disk' });
  const r = await runHelper(ctx, {
    image: c.Image,
    cmd: ['/bin/sh', '-c', script, 'bosh-cpi-helper', diskCid],
    mounts,
    capAdd: ['SYS_ADMIN'],
    labels: ctx.labels({ 'bosh.cpi.helper': 'disk' }),
  });
  if (r.code !== 0) throw new CloudError(`the disk helper container failed (exit ${r.code}): ${r.output}`);
}

function withPersistent(s: AgentSettings, edit: (p: Record<string, DiskHint>) => void): AgentSettings {
  const persistent = { ...s.disks.persistent };
  edit(persistent);
  return { ...s, disks: { ...s.disks, persistent } };
}

/** The VM's container under its lock, with any interrupted recreate finished first. */
async function lockedVm(ctx: DockerContext, vmCid: string): Promise<ContainerInspect | undefined> {
  await settleJournal(ctx, vmCid);
  return findVm(ctx, vmCid);
}

/** Mounts the disk live (block, host, helper or remote mode) under the VM's disk directory. */
async function mountLive(ctx: DockerContext, c: ContainerInspect, place: VmPlace, mode: DiskMode, disk: DiskVolume): Promise<void> {
  // A remote VM's disk directory is on the engine's host, not here.
  if (mode === 'remote') return mountRemote(ctx, c.Image, place.cid, disk);
  if (!place.diskDir) throw new CloudError(`VM ${place.cid} has no disk directory bound at ${DEV_PATH}`);
  if (mode === 'block') return attachBlock(c, place.dir, place.diskDir, disk);
  if (disk.backing === 'image' && mode !== 'host') throw new CloudError(`disk ${disk.cid} holds an ext4 image, which needs the CPI to mount it on the Docker host as root`);
  if (mode === 'helper') {
    return helper(ctx, c, place, disk, 'mkdir -p "/vmdisks/$1" && (grep -qs " /vmdisks/$1 " /proc/mounts || mount -o bind /disk "/vmdisks/$1")', disk.cid);
  }
  const target = path.join(place.diskDir, disk.cid);
  if (isMountPoint(target)) return;
  if (disk.backing === 'directory') return bindMount(disk.mountpoint, target);
  const img = imagePath(disk.mountpoint);
  const users = loopUsers(img);
  if (users.length) throw new CloudError(`disk ${disk.cid} is still in use (${users.join('; ')}); detach it from its VM first`);
  await loopMount(img, target);
}

export function attachDisk(ctx: DockerContext, vmCid: string, diskCid: string): Promise<DiskHint> {
  return ctx.locked([['vm', vmCid], ['disk', diskCid]], async () => {
    const [disk, c] = await Promise.all([findDisk(ctx, diskCid), lockedVm(ctx, vmCid)]);
    if (!disk) throw new DiskNotFound(diskCid);
    if (!c) throw new VMNotFound(vmCid);
    const mode = diskModeOf(c);
    const hint = hintFor(diskCid);
    // A remote-mode attach asks the engine's host itself, in the same helper that mounts.
    const elsewhere = await holder(ctx, diskCid, { remoteChecked: mode === 'remote', disk });
    if (elsewhere && elsewhere !== vmCid) throw new CloudError(`disk ${diskCid} is attached to VM ${elsewhere}; detach it first`);
    const place = vmPlace(ctx, vmCid, c);
    const store = new SettingsStore(ctx);
    const previous = await store.read(place, c);
    const settings = withPersistent(previous, (p) => (p[diskCid] = hint));
    if (mode === 'recreate') {
      if (disk.backing === 'image') throw new CloudError(`disk ${diskCid} holds an ext4 image, which VM ${vmCid} cannot mount: its disks attach by recreating the container`);
      if (!recreateAttachments(c, DEV_PATH).includes(diskCid)) {
        const id = await recreateWithMounts(ctx, place, c, { add: { Type: 'volume', Source: diskCid, Target: hint } as MountSpec }, previous, settings);
        await refreshAfterRecreate(ctx, vmCid, id);
        return hint;
      }
    } else {
      await mountLive(ctx, c, place, mode, disk);
    }
    await failpoint('attach.after-mount');
    try {
      await store.write(place, c, previous, settings);
    } catch (e) {
      if (mode === 'host' && place.diskDir) await unmount(path.join(place.diskDir, diskCid)).catch(() => undefined);
      if (mode === 'block' && place.diskDir) await detachBlock(c, place.dir, place.diskDir, diskCid).catch(() => undefined);
      if (mode === 'remote') await unmountRemote(ctx, c.Image, vmCid, diskCid).catch(() => undefined);
      throw e;
    }
    ctx.log.debug('attached disk', { vm: vmCid, disk: diskCid, mode, backing: disk.backing });
    return hint;
  });
}

async function refreshAfterRecreate(ctx: DockerContext, vmCid: string, id: string): Promise<void> {
  const fresh = await findVm(ctx, vmCid);
  if (fresh?.Id === id) await refreshObservedNetworks(ctx, vmPlace(ctx, vmCid, fresh), fresh);
}

/** Detaching a disk that is not attached, or from a VM that is gone, is success. */
export function detachDisk(ctx: DockerContext, vmCid: string, diskCid: string): Promise<void> {
  return ctx.locked([['vm', vmCid], ['disk', diskCid]], async () => {
    const c = await lockedVm(ctx, vmCid);
    if (!c) {
      // Gone behind the CPI's back, perhaps with the disk still mounted under its directory.
      const at = mountedAt(ctx, diskCid);
      if (at?.vm === vmCid && (await unmount(at.mountPoint).catch(() => false))) ctx.log.info('released the disk of a VM that no longer exists', { vm: vmCid, disk: diskCid });
      if (blockNodeOf(ctx.state.root, diskCid)?.vm === vmCid) await holder(ctx, diskCid);
      return;
    }
    const mode = diskModeOf(c);
    const place = vmPlace(ctx, vmCid, c);
    const store = new SettingsStore(ctx);
    const previous = await store.read(place, c);
    const settings = withPersistent(previous, (p) => delete p[diskCid]);
    const target = place.diskDir ? path.join(place.diskDir, diskCid) : undefined;
    if (mode === 'remote') {
      await unmountRemote(ctx, c.Image, vmCid, diskCid);
    } else if (mode === 'block' && place.diskDir) {
      if (await detachBlock(c, place.dir, place.diskDir, diskCid)) {
        ctx.log.warn('the disk is still mounted inside the VM: it stays in use (not attachable elsewhere, not deletable) until the VM unmounts it', { vm: vmCid, disk: diskCid });
      }
    } else if (mode === 'host' && target) {
      if (await unmount(target)) fs.rmdirSync(target);
    } else if (mode === 'helper' && target) {
      if (isMountPoint(target)) await helper(ctx, c, place, undefined, 'umount "/vmdisks/$1" 2>/dev/null || umount -l "/vmdisks/$1"; rmdir "/vmdisks/$1" 2>/dev/null; true', diskCid);
    } else if (mode === 'recreate' && recreateAttachments(c, DEV_PATH).includes(diskCid)) {
      const id = await recreateWithMounts(ctx, place, c, { removeTarget: hintFor(diskCid) }, previous, settings);
      await refreshAfterRecreate(ctx, vmCid, id);
      return;
    }
    await failpoint('detach.after-unmount');
    await store.write(place, c, previous, settings);
    ctx.log.debug('detached disk', { vm: vmCid, disk: diskCid, mode });
  });
}

/** The disks really attached to a VM (its mounts, not just what the settings say). */
export async function getDisks(ctx: DockerContext, vmCid: string): Promise<string[]> {
  const c = await findVm(ctx, vmCid);
  if (!c) throw new VMNotFound(vmCid);
  if (diskModeOf(c) === 'recreate') return recreateAttachments(c, DEV_PATH);
  if (diskModeOf(c) === 'remote') return listRemote(ctx, c.Image, vmCid);
  const dir = vmPlace(ctx, vmCid, c).diskDir;
  if (diskModeOf(c) === 'block') return blockDisks(dir);
  return mountTable()
    .map((m) => m.mountPoint)
    .filter((p) => path.dirname(p) === dir)
    .map((p) => path.basename(p))
    .filter((cid, i, all) => all.indexOf(cid) === i);
}

/** delete_vm's part: the disks go with their mounts; their data stays. */
export async function releaseDisks(ctx: DockerContext, vmCid: string, c: ContainerInspect): Promise<void> {
  if (diskModeOf(c) === 'remote') return releaseRemote(ctx, c.Image, vmCid);
  if (diskModeOf(c) !== 'helper') return; // host mounts are released after the container goes
  const place = vmPlace(ctx, vmCid, c);
  for (const p of mountTable().map((m) => m.mountPoint).filter((m) => path.dirname(m) === place.diskDir)) {
    await helper(ctx, c, place, undefined, 'umount "/vmdisks/$1" 2>/dev/null || umount -l "/vmdisks/$1"; true', path.basename(p));
  }
}
