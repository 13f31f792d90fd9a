/**
 * snapshot_disk / delete_snapshot. A snapshot is a volume (`snap-<uuid>`) holding a copy of the
 * disk taken at that moment: an image-backed disk that is attached is frozen (fsfreeze) while
 * its image is copied, so later writes cannot reach the copy and the copy is consistent (on a
 * remote engine, a helper on its host does the same, remote.ts). The
 * snapshot metadata is recorded as labels (bosh.snapshot.<key>) on the volume.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Metadata } from '../../cpi/schemas';
import { CloudError, DiskNotFound, NotSupported } from '../../rpc/errors';
import type { DockerContext } from '../context';
import { isNotFound, seg } from '../engine/client';
import type { VolumeInspect } from '../engine/types';
import { L } from '../labels';
import type * as NewCids from '../new-cids';
import { mountedAt } from './attach';
import { blockMountPath } from './block';
import { canMountOnHost, run } from './host';
import { copyImage, imagePath, whileFrozen } from './image';
import { snapshotRemote } from './remote';
import { helperImage, remoteLiveKnown } from './view';
import { findDisk, inspectVolume } from './volumes';

function metadataLabels(md: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md)) {
    if (v === null || v === undefined) continue;
    out[`${L.snapshotPrefix}${k}`] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

export function snapshotDisk(ctx: DockerContext, diskCid: string, md: Metadata): Promise<string> {
  // Held so that no attach or detach mounts or unmounts the disk while it is frozen and copied.
  return ctx.locked([['disk', diskCid]], () => snapshotUnlocked(ctx, diskCid, md));
}

async function snapshotUnlocked(ctx: DockerContext, diskCid: string, md: Metadata): Promise<string> {
  const disk = await findDisk(ctx, diskCid);
  if (!disk) throw new DiskNotFound(diskCid);
  const remote = (await remoteLiveKnown(ctx)) ? await helperImage(ctx) : undefined;
  if (!remote && (!canMountOnHost() || !fs.existsSync(disk.mountpoint))) {
    throw new NotSupported('snapshot_disk: snapshots need the CPI on the Docker host as root');
  }
  // uuid loads node's crypto: only creating something pays for it.
  const cid = (require('../new-cids') as typeof NewCids).newSnapshotCid();
  const v = await ctx.engine.request<VolumeInspect>('POST', '/volumes/create', {
    body: {
      Name: cid,
      Driver: 'local',
      Labels: ctx.labels({ ...metadataLabels(md), [L.kind]: 'snapshot', [L.snapshotOf]: diskCid, [L.backing]: disk.backing, 'bosh.cpi.created-at': new Date().toISOString() }),
    },
  });
  try {
    if (remote) {
      await snapshotRemote(ctx, remote, disk, cid);
    } else if (disk.backing === 'image') {
      const mounted = mountedAt(ctx, diskCid)?.mountPoint ?? (await blockMountPath(ctx, diskCid, imagePath(disk.mountpoint)));
      const copy = () => copyImage(imagePath(disk.mountpoint), imagePath(v.Mountpoint));
      if (mounted) await whileFrozen(mounted, copy);
      else await copy();
    } else {
      await run('cp', ['-a', '--reflink=auto', `${disk.mountpoint}/.`, v.Mountpoint], 3_600_000);
    }
  } catch (e) {
    await ctx.engine.request('DELETE', `/volumes/${seg(cid)}`, { query: { force: true } }).catch(() => undefined);
    throw new CloudError(`snapshot_disk: copying disk ${diskCid} failed: ${(e as Error).message}`);
  }
  ctx.log.info('snapshot taken', { snapshot: cid, disk: diskCid });
  return cid;
}

/** Idempotent; refuses to delete a volume that is not a snapshot (a disk, say). */
export async function deleteSnapshot(ctx: DockerContext, cid: string): Promise<void> {
  const v = await inspectVolume(ctx, cid);
  if (!v) return;
  if (v.Labels?.[L.kind] !== 'snapshot') throw new CloudError(`delete_snapshot: ${cid} is not a snapshot`);
  try {
    await ctx.engine.request('DELETE', `/volumes/${seg(cid)}`);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}
