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
import { canMountOnHost, HostCommandError } from './host';
import { growRemote, HelperLacksTool, makeImage, ShrinkRefused } from './remote';
import { helperImage, remoteLive, remoteLiveKnown, seesState } from './view';
import { findVm } from '../vm/find';
import { createImage, growImage, imagePath } from './image';
import { findDisk, type Backing } from './volumes';

const KNOWN_CP = new Set(['backing']);

/** Where a new disk's data is made: by this CPI (local), by a helper on the engine's host (remote), nowhere (a directory). */
type Maker = { backing: 'directory' } | { backing: 'image'; by: 'local' } | { backing: 'image'; by: 'remote'; image: string };

/**
 * Image-backed (sized) disks where the engine's view allows (disk/view.ts): made by the CPI
 * when it runs as root and the engine sees its files; made by a helper on the engine's host
 * where disks attach live there. Otherwise plain directories.
 */
async function chooseBacking(ctx: DockerContext, cp: CloudProperties, vmCid: string | undefined): Promise<Maker> {
  const wanted = cp['backing'];
  if (wanted !== undefined && wanted !== 'image' && wanted !== 'directory') throw new CloudError('create_disk: cloud_properties.backing must be "image" or "directory"');
  if (wanted === 'directory') return { backing: 'directory' };
  const vmImage = vmCid ? (await findVm(ctx, vmCid))?.Image : undefined;
  const sees = await seesState(ctx, vmImage);
  // Known local, or not known yet (no VM named, no record): the volume decides (createDisk).
  if (sees !== false) return canMountOnHost() ? { backing: 'image', by: 'local' } : refuse(wanted, 'the CPI is not root on the Docker host');
  const image = await helperImage(ctx, vmImage);
  const live = await remoteLive(ctx, image);
  if (live.live && image) return { backing: 'image', by: 'remote', image };
  return refuse(wanted, `disks on the engine at ${ctx.engine.endpoint.display} attach by recreating the container (${live.reason ?? 'no live path'})`);
}

function refuse(wanted: unknown, why: string): Maker {
  if (wanted === 'image') throw new CloudError(`create_disk: cloud_properties.backing "image" cannot be made here: ${why}`);
  return { backing: 'directory' };
}

/** set_disk_metadata's record, kept under the engine that has the disk. */
async function metadataFile(ctx: DockerContext, diskCid: string): Promise<string> {
  return ctx.state.diskMetadataFile(await ctx.engineId(), diskCid);
}

async function makeData(ctx: DockerContext, maker: Maker, v: VolumeInspect, sizeMiB: number): Promise<void> {
  if (maker.backing === 'directory') return;
  try {
    if (maker.by === 'local') await createImage(imagePath(v.Mountpoint), sizeMiB);
    else await makeImage(ctx, maker.image, v.Name, sizeMiB);
  } catch (e) {
    const msg = (e as Error).message;
    if (/No space left/i.test(msg)) throw new CloudError(`create_disk: no space for a ${sizeMiB} MiB disk on the Docker host`);
    if (e instanceof CloudError && !(e instanceof HostCommandError)) throw e;
    throw new CloudError(`create_disk: cannot make the disk's filesystem: ${msg}`);
  }
}

export async function createDisk(ctx: DockerContext, sizeMiB: number, cp: CloudProperties, vmCid?: string): Promise<string> {
  for (const k of Object.keys(cp)) if (!KNOWN_CP.has(k)) ctx.log.warn(`disk cloud_properties.${k} is not used by the Docker CPI and was ignored`);
  // uuid loads node's crypto: only creating something pays for it.
  const cid = (require('../new-cids') as typeof NewCids).newDiskCid();
  let maker = await chooseBacking(ctx, cp, vmCid);
  // The backing is a label, fixed at creation.
  const create = () =>
    ctx.engine.request<VolumeInspect>('POST', '/volumes/create', {
      body: { Name: cid, Driver: 'local', Labels: ctx.labels({ [L.kind]: 'persistent', [L.sizeMiB]: String(sizeMiB), [L.backing]: maker.backing }) },
    });
  const remove = () => ctx.engine.request('DELETE', `/volumes/${seg(cid)}`, { query: { force: true } }).catch(() => undefined);
  let v = await create();
  if (maker.backing === 'image' && maker.by === 'local' && !fs.existsSync(v.Mountpoint)) {
    // The volume the engine just made is not on this machine: its files are not ours to write.
    await remove();
    maker = refuse(cp['backing'], `the engine's volume ${v.Mountpoint} is not on this machine`);
    v = await create();
  }
  try {
    await makeData(ctx, maker, v, sizeMiB);
  } catch (e) {
    await remove();
    // A helper image without e2fsprogs (a light stemcell): a directory, unless an image was asked for.
    if (!(e instanceof HelperLacksTool) || cp['backing'] === 'image') throw e;
    ctx.log.warn('the disk is a directory without a fixed size', { reason: e.message });
    maker = { backing: 'directory' };
    v = await create();
  }
  ctx.log.debug('created disk', { cid, size_mib: sizeMiB, backing: maker.backing, ...(maker.backing === 'image' ? { made_by: maker.by } : {}) });
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
  ctx.engineInfo().catch(() => undefined); // the engine's ID keys the records below: asked alongside
  const disk = await findDisk(ctx, cid);
  if (!disk) return;
  const vm = await holder(ctx, cid, { disk });
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
  if (await remoteLiveKnown(ctx)) return resizeRemote(ctx, cid, newSizeMiB);
  if (!canMountOnHost()) throw new NotSupported('resize_disk: resizing needs the CPI on the Docker host as root');
  const vm = await holder(ctx, cid, { disk });
  if (vm) throw new CloudError(`resize_disk: disk ${cid} is attached to VM ${vm}; detach it first`);
  const img = imagePath(disk.mountpoint);
  const current = Math.round(fs.statSync(img).size / (1024 * 1024));
  if (newSizeMiB < current) throw new NotSupported(`resize_disk: disk ${cid} is ${current} MiB; shrinking to ${newSizeMiB} MiB is not supported`);
  if (newSizeMiB === current) return;
  await growImage(img, newSizeMiB);
  ctx.log.info('resized disk', { cid, from_mib: current, to_mib: newSizeMiB });
}

/** On a remote engine: one helper there checks that no VM has it mounted, and grows it. */
async function resizeRemote(ctx: DockerContext, cid: string, newSizeMiB: number): Promise<void> {
  const image = await helperImage(ctx);
  if (!image) throw new CloudError('resize_disk: no stemcell image on the engine to run the disk helper from');
  try {
    await growRemote(ctx, image, cid, newSizeMiB);
  } catch (e) {
    if (e instanceof ShrinkRefused) throw new NotSupported(`resize_disk: disk ${cid} is ${e.currentMiB} MiB; shrinking to ${newSizeMiB} MiB is not supported`);
    throw e;
  }
  ctx.log.info('resized disk', { cid, to_mib: newSizeMiB, on: 'engine host' });
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
