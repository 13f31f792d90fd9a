/**
 * attach_disk / detach_disk / get_disks: live where the VM's disk mode allows (see vm-dir.ts),
 * by recreating the container otherwise. A missing disk or VM is reported before anything is
 * touched; the settings file's disks.persistent follows every change, and the disk hint is
 * "/warden-cpi-dev/<disk cid>" (the warden/boshlite agent bind-mounts it to /var/vcap/store).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DiskHint } from '../../cpi/schemas';
import { CloudError, DiskNotFound, VMNotFound } from '../../rpc/errors';
import type { DockerContext } from '../context';
import { runHelper } from '../engine/helper';
import type { ContainerInspect, MountSpec } from '../engine/types';
import { L } from '../labels';
import { SettingsStore, type Delivery } from '../settings/store';
import { findVm } from '../vm/find';
import { bindMount, isMountPoint, loopMount, mountTable, unmount } from './host';
import { imagePath } from './image';
import { recreateAttachments, recreateWithMounts } from './recreate';
import { DEV_PATH, diskDir, hintFor, type DiskMode } from './vm-dir';
import { findDisk, type DiskVolume } from './volumes';

export function diskModeOf(c: ContainerInspect): DiskMode {
  return (c.Config.Labels?.[L.diskMode] as DiskMode | undefined) ?? 'recreate';
}

/** Which VM (by its disk directory) has `diskCid` mounted, from the host's mount table. */
export function mountedAt(ctx: DockerContext, diskCid: string): string | undefined {
  const vms = path.join(ctx.state.root, 'vms');
  const m = mountTable().find((e) => e.mountPoint.startsWith(`${vms}/`) && e.mountPoint.endsWith(`/disks/${diskCid}`));
  return m ? path.basename(path.dirname(path.dirname(m.mountPoint))) : undefined;
}

/**
 * The VM holding `diskCid`. A mount left under a VM whose container was removed behind the
 * CPI's back (docker rm) holds nothing any more: it is released, so the disk can move on.
 */
export async function holder(ctx: DockerContext, diskCid: string): Promise<string | undefined> {
  const vm = mountedAt(ctx, diskCid);
  if (!vm || (await findVm(ctx, vm))) return vm;
  ctx.log.warn('releasing a disk mount left by a VM that no longer exists', { vm, disk: diskCid });
  await unmount(path.join(diskDir(ctx, vm), diskCid));
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

async function helper(ctx: DockerContext, c: ContainerInspect, disk: DiskVolume | undefined, script: string, diskCid: string): Promise<void> {
  const mounts: Array<Record<string, unknown>> = [
    { Type: 'bind', Source: diskDir(ctx, c.Config.Labels?.[L.vmCid] ?? ''), Target: '/vmdisks', BindOptions: { Propagation: 'rshared' } },
  ];
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

async function updateSettings(ctx: DockerContext, vmCid: string, containerId: string, labels: Record<string, string>, edit: (p: Record<string, DiskHint>) => void): Promise<void> {
  const store = new SettingsStore(ctx);
  const settings = await store.read(vmCid, containerId);
  const persistent = { ...settings.disks.persistent };
  edit(persistent);
  const delivery = (labels[L.settingsDelivery] as Delivery | undefined) ?? 'bind';
  await store.write(vmCid, { ...settings, disks: { ...settings.disks, persistent } }, delivery, containerId);
}

export async function attachDisk(ctx: DockerContext, vmCid: string, diskCid: string): Promise<DiskHint> {
  const [disk, c] = await Promise.all([findDisk(ctx, diskCid), findVm(ctx, vmCid)]);
  if (!disk) throw new DiskNotFound(diskCid);
  if (!c) throw new VMNotFound(vmCid);
  const mode = diskModeOf(c);
  const hint = hintFor(diskCid);
  const elsewhere = await holder(ctx, diskCid);
  if (elsewhere && elsewhere !== vmCid) throw new CloudError(`disk ${diskCid} is attached to VM ${elsewhere}; detach it first`);

  let containerId = c.Id;
  if (mode === 'host') {
    const target = path.join(diskDir(ctx, vmCid), diskCid);
    if (!isMountPoint(target)) {
      if (disk.backing === 'image') {
        const img = imagePath(disk.mountpoint);
        const users = loopUsers(img);
        if (users.length) throw new CloudError(`disk ${diskCid} is still in use (${users.join('; ')}); detach it from its VM first`);
        await loopMount(img, target);
      } else {
        await bindMount(disk.mountpoint, target);
      }
    }
  } else if (mode === 'helper') {
    if (disk.backing === 'image') throw new CloudError(`disk ${diskCid} holds an ext4 image, which needs the CPI to mount it on the Docker host as root`);
    await helper(ctx, c, disk, 'mkdir -p "/vmdisks/$1" && (grep -qs " /vmdisks/$1 " /proc/mounts || mount -o bind /disk "/vmdisks/$1")', diskCid);
  } else {
    if (disk.backing === 'image') throw new CloudError(`disk ${diskCid} holds an ext4 image, which needs the CPI to mount it on the Docker host as root`);
    if (!recreateAttachments(c, DEV_PATH).includes(diskCid)) {
      containerId = await recreateWithMounts(ctx, vmCid, c, { add: { Type: 'volume', Source: diskCid, Target: hint } as MountSpec });
    }
  }
  try {
    await updateSettings(ctx, vmCid, containerId, c.Config.Labels ?? {}, (p) => {
      p[diskCid] = hint;
    });
  } catch (e) {
    if (mode === 'host') await unmount(path.join(diskDir(ctx, vmCid), diskCid)).catch(() => undefined);
    throw e;
  }
  ctx.log.debug('attached disk', { vm: vmCid, disk: diskCid, mode, backing: disk.backing });
  return hint;
}

/** Detaching a disk that is not attached, or from a VM that is gone, is success. */
export async function detachDisk(ctx: DockerContext, vmCid: string, diskCid: string): Promise<void> {
  const c = await findVm(ctx, vmCid);
  if (!c) {
    // Gone behind the CPI's back, perhaps with the disk still mounted under its directory.
    if (await unmount(path.join(diskDir(ctx, vmCid), diskCid)).catch(() => false)) ctx.log.info('released the disk of a VM that no longer exists', { vm: vmCid, disk: diskCid });
    return;
  }
  const mode = diskModeOf(c);
  let containerId = c.Id;
  if (mode === 'host') {
    const target = path.join(diskDir(ctx, vmCid), diskCid);
    if (await unmount(target)) fs.rmdirSync(target);
  } else if (mode === 'helper') {
    if (isMountPoint(path.join(diskDir(ctx, vmCid), diskCid))) {
      await helper(ctx, c, undefined, 'umount "/vmdisks/$1" 2>/dev/null || umount -l "/vmdisks/$1"; rmdir "/vmdisks/$1" 2>/dev/null; true', diskCid);
    }
  } else if (recreateAttachments(c, DEV_PATH).includes(diskCid)) {
    containerId = await recreateWithMounts(ctx, vmCid, c, { removeTarget: hintFor(diskCid) });
  }
  await updateSettings(ctx, vmCid, containerId, c.Config.Labels ?? {}, (p) => {
    delete p[diskCid];
  });
  ctx.log.debug('detached disk', { vm: vmCid, disk: diskCid, mode });
}

/** The disks really attached to a VM (its mounts, not just what the settings say). */
export async function getDisks(ctx: DockerContext, vmCid: string): Promise<string[]> {
  const c = await findVm(ctx, vmCid);
  if (!c) throw new VMNotFound(vmCid);
  if (diskModeOf(c) === 'recreate') return recreateAttachments(c, DEV_PATH);
  const dir = diskDir(ctx, vmCid);
  return mountTable()
    .map((m) => m.mountPoint)
    .filter((p) => path.dirname(p) === dir)
    .map((p) => path.basename(p))
    .filter((cid, i, all) => all.indexOf(cid) === i);
}

/** delete_vm's part: the disks go with their mounts; their data stays. */
export async function releaseDisks(ctx: DockerContext, vmCid: string, c: ContainerInspect): Promise<void> {
  if (diskModeOf(c) !== 'helper') return; // host mounts are released after the container goes
  const dir = diskDir(ctx, vmCid);
  for (const p of mountTable().map((m) => m.mountPoint).filter((m) => path.dirname(m) === dir)) {
    await helper(ctx, c, undefined, 'umount "/vmdisks/$1" 2>/dev/null || umount -l "/vmdisks/$1"; true', path.basename(p));
  }
}
