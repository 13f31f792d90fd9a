/**
 * Persistent disks and snapshots are Docker volumes (`vol-<uuid>`, `snap-<uuid>`). A disk holds
 * either an ext4 image (`image` backing: a fixed size, made when the CPI can mount on the Docker
 * host) or its files directly (`directory` backing, like the Go CPI's disks).
 */
import type { DockerContext } from '../context';
import { isNotFound, seg } from '../engine/client';
import type { VolumeInspect } from '../engine/types';
import { isDockerName } from '../cids';
import { L } from '../labels';

export type Backing = 'image' | 'directory';

export interface DiskVolume {
  cid: string;
  mountpoint: string;
  backing: Backing;
  sizeMiB?: number;
  labels: Record<string, string>;
}

/** The Go CPI's disks: named vol-<uuid>, no labels, files directly in the volume. */
const LEGACY_DISK = /^vol-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function inspectVolume(ctx: DockerContext, name: string): Promise<VolumeInspect | undefined> {
  if (!isDockerName(name)) return undefined;
  try {
    return await ctx.engine.request<VolumeInspect>('GET', `/volumes/${seg(name)}`);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export function asDisk(v: VolumeInspect): DiskVolume | undefined {
  const labels = (v.Labels ?? {}) as Record<string, string>;
  const ours = labels[L.managed] === 'true' && labels[L.kind] === 'persistent';
  if (!ours && !(LEGACY_DISK.test(v.Name) && !labels[L.managed])) return undefined;
  const size = Number(labels[L.sizeMiB]);
  return {
    cid: v.Name,
    mountpoint: v.Mountpoint,
    backing: labels[L.backing] === 'image' ? 'image' : 'directory',
    sizeMiB: Number.isFinite(size) && size > 0 ? size : undefined,
    labels,
  };
}

/** The disk a CID names, or undefined (also for volumes that are not disks, e.g. snapshots). */
export async function findDisk(ctx: DockerContext, cid: string): Promise<DiskVolume | undefined> {
  const v = await inspectVolume(ctx, cid);
  return v && asDisk(v);
}
