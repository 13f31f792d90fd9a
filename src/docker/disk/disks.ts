/** create_disk, delete_disk, has_disk, resize_disk, update_disk, set_disk_metadata. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CloudProperties, Metadata } from '../../cpi/schemas';
import { CloudError, DiskNotFound, NotSupported } from '../../rpc/errors';
import type { DockerContext } from '../context';
import { isEngineError, isNotFound, seg } from '../engine/client';
import type { VolumeInspect } from '../engine/types';
import { L } from '../labels';
import type * as NewCids from '../new-cids';
import { holder } from './attach';
import { canMountOnHost } from './host';
import { createImage, growImage, imagePath } from './image';
import { findDisk, type Backing } from './volumes';

const KNOWN_CP = new Set(['backing']);

/**
 * Image-backed (sized) disks need the CPI on the Docker host as root: it creates the filesystem
 * in the volume's directory and mounts it. Otherwise disks are plain directories.
 */
function chooseBacking(ctx: DockerContext, cp: CloudProperties, volumeDir: string): Backing {
  const wanted = cp['backing'];
  const possible = canMountOnHost() && fs.existsSync(volumeDir);
  if (wanted === 'directory') return 'directory';
  if (wanted === 'image' && !possible) {
    throw new CloudError('create_disk: cloud_properties.backing "image" needs the CPI to run on the Docker host as root');
  }
  if (wanted !== undefined && wanted !== 'image') throw new CloudError('create_disk: cloud_properties.backing must be "image" or "directory"');
  return possible ? 'image' : 'directory';
}

/** set_disk_metadata's record, kept under the engine that has the disk. */
async function metadataFile(ctx: DockerContext, diskCid: string): Promise<string> {
  return ctx.state.diskMetadataFile(await ctx.engineId(), diskCid);
}

export async function createDisk(ctx: DockerContext, sizeMiB: number, cp: CloudProperties): Promise<string> {
  for (const k of Object.keys(cp)) if (!KNOWN_CP.has(k)) ctx.log.warn(`disk cloud_properties.${k} is not used by the Docker CPI and was ignored`);
  // uuid loads node's crypto: only creating something pays for it.
  const cid = (require('../new-cids') as typeof NewCids).newDiskCid();
  // The backing is a label, fixed at creation: decide it from where the volume will live.
  const probe = await ctx.engineInfo();
  const volumeDir = path.join(probe.DockerRootDir ?? '/var/lib/docker', 'volumes');
  const backing = chooseBacking(ctx, cp, volumeDir);
  const v = await ctx.engine.request<VolumeInspect>('POST', '/volumes/create', {
    body: { Name: cid, Driver: 'local', Labels: ctx.labels({ [L.kind]: 'persistent', [L.sizeMiB]: String(sizeMiB), [L.backing]: backing }) },
  });
  if (backing === 'image') {
    try {
      await createImage(imagePath(v.Mountpoint), sizeMiB);
    } catch (e) {
      await ctx.engine.request('DELETE', `/volumes/${seg(cid)}`, { query: { force: true } }).catch(() => undefined);
      const msg = (e as Error).message;
      if (/No space left/i.test(msg)) throw new CloudError(`create_disk: no space for a ${sizeMiB} MiB disk on the Docker host`);
      throw new CloudError(`create_disk: cannot make the disk's filesystem: ${msg}`);
    }
  }
  ctx.log.debug('created disk', { cid, size_mib: sizeMiB, backing });
  return cid;
}

export async function hasDisk(ctx: DockerContext, cid: string): Promise<boolean> {
  return (await findDisk(ctx, cid)) !== undefined;
}

/** Idempotent; an attached disk is refused with its VM named, and keeps its data. */
export function deleteDisk(ctx: DockerContext, cid: string): Promise<void> {
  return ctx.locked([['disk', cid]], () => deleteUnlocked(ctx, cid));
}

async function deleteUnlocked(ctx: DockerContext, cid: string): Promise<void> {
  const disk = await findDisk(ctx, cid);
  if (!disk) return;
  const vm = await holder(ctx, cid);
  if (vm) throw new CloudError(`delete_disk: disk ${cid} is attached to VM ${vm}; detach it first`);
  try {
    await ctx.engine.request('DELETE', `/volumes/${seg(cid)}`);
  } catch (e) {
    if (isNotFound(e)) return;
    if (isEngineError(e) && e.statusCode === 409) {
      throw new CloudError(`delete_disk: disk ${cid} is still used by a container (${e.engineMessage}); detach it first`);
    }
    throw e;
  }
  fs.rmSync(await metadataFile(ctx, cid), { force: true });
  ctx.log.debug('deleted disk', { cid });
}

/** Grows an image-backed disk; it must be detached (the Director detaches before resizing). */
export function resizeDisk(ctx: DockerContext, cid: string, newSizeMiB: number): Promise<void> {
  return ctx.locked([['disk', cid]], () => resizeUnlocked(ctx, cid, newSizeMiB));
}

async function resizeUnlocked(ctx: DockerContext, cid: string, newSizeMiB: number): Promise<void> {
  const disk = await findDisk(ctx, cid);
  if (!disk) throw new DiskNotFound(cid);
  if (disk.backing !== 'image') {
    throw new NotSupported(`resize_disk: disk ${cid} is a directory without a fixed size (made where the CPI could not mount on the Docker host)`);
  }
  if (!canMountOnHost()) throw new NotSupported('resize_disk: resizing needs the CPI on the Docker host as root');
  const vm = await holder(ctx, cid);
  if (vm) throw new CloudError(`resize_disk: disk ${cid} is attached to VM ${vm}; detach it first`);
  const img = imagePath(disk.mountpoint);
  const current = Math.round(fs.statSync(img).size / (1024 * 1024));
  if (newSizeMiB < current) throw new NotSupported(`resize_disk: disk ${cid} is ${current} MiB; shrinking to ${newSizeMiB} MiB is not supported`);
  if (newSizeMiB === current) return;
  await growImage(img, newSizeMiB);
  ctx.log.info('resized disk', { cid, from_mib: current, to_mib: newSizeMiB });
}

/** update_disk: a size change is a resize in place; other changes need a new disk (the Director copies). */
export async function updateDisk(ctx: DockerContext, cid: string, newSizeMiB: number, cp: CloudProperties): Promise<null> {
  const disk = await findDisk(ctx, cid);
  if (!disk) throw new DiskNotFound(cid);
  const wantedBacking = cp['backing'];
  if (Object.keys(cp).some((k) => k !== 'backing') || (wantedBacking !== undefined && wantedBacking !== disk.backing)) {
    throw new NotSupported('update_disk: only the size of a disk can change in place');
  }
  await resizeDisk(ctx, cid, newSizeMiB);
  return null;
}

/** Labels are fixed at creation, so disk metadata lives in <state_dir>/engines/<engine>/disks/<cid>.json. */
export async function setDiskMetadata(ctx: DockerContext, cid: string, md: Metadata): Promise<void> {
  if (!(await findDisk(ctx, cid))) throw new DiskNotFound(cid);
  const file = await metadataFile(ctx, cid);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(md, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file); // concurrent writers: one whole document wins, none is torn
}
