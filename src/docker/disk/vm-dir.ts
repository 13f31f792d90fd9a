/**
 * Every VM gets a disk directory, <vm dir>/disks, bind-mounted into its container at
 * /warden-cpi-dev with rslave propagation: what is mounted under it on the host appears in the
 * running container. How disks get mounted there is the VM's disk mode:
 *
 * - block:    the CPI runs on the Docker host as root and the stemcell's agent can be told to
 *             mount devices: disks appear as block device nodes in the directory (block.ts);
 * - host:     the CPI runs on the Docker host as root; the directory is made a shared mount
 *             point and the CPI mounts disks itself (milliseconds);
 * - helper:   the CPI cannot mount, but the directory's host mount already propagates (hosts
 *             whose / is shared, as under systemd); a short-lived helper container mounts;
 * - remote:   the engine cannot see this machine's files, but its host's mounts propagate and it
 *             runs privileged helpers: the directory is on the engine's host and helpers there
 *             make, mount and resize disks (remote.ts);
 * - recreate: no live path (a remote engine without one, or private propagation without root): attaching
 *             recreates the container with the disk, keeping everything that matters.
 */
import * as fs from 'node:fs';
import type { MountSpec } from '../engine/types';
import { DEV_PATH } from '../state/place';
import { canMountOnHost, isShared, makeSharedMountPoint, mountOf, unmountTree } from './host';

export { DEV_PATH };
export type DiskMode = 'block' | 'host' | 'helper' | 'remote' | 'recreate';

/** Where a disk appears inside the VM: also the agent's disk hint. */
export function hintFor(diskCid: string): string {
  return `${DEV_PATH}/${diskCid}`;
}

export interface PreparedDiskDir {
  mode: DiskMode;
  mounts: MountSpec[];
  /** Binds of the engine host's disk directory (remote mode): the engine creates it. */
  binds?: string[];
}

/**
 * Sets up a new VM's disk directory `dir`. `engineSeesState`: the engine shares this machine's
 * files; `block`: the VM can take block devices (its agent is configured for them).
 */
export async function prepareDiskDir(dir: string, engineSeesState: boolean, block = false): Promise<PreparedDiskDir> {
  if (!engineSeesState) return { mode: 'recreate', mounts: [] };
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  // Device nodes need no propagation, but a filesystem mounted nodev would make them unusable.
  if (block && canMountOnHost() && !mountOf(dir)?.options.includes('nodev')) {
    return { mode: 'block', mounts: [{ Type: 'bind', Source: dir, Target: DEV_PATH } as MountSpec] };
  }
  const bind = { Type: 'bind', Source: dir, Target: DEV_PATH, BindOptions: { Propagation: 'rslave' } } as MountSpec;
  if (canMountOnHost()) {
    await makeSharedMountPoint(dir);
    return { mode: 'host', mounts: [bind] };
  }
  if (isShared(mountOf(dir))) return { mode: 'helper', mounts: [bind] };
  return { mode: 'recreate', mounts: [] };
}

/**
 * Removes the mounts the CPI made for a VM (its disks, the disk directory, a sized ephemeral
 * disk) under its record directory and its disk directory, wherever that was bound from.
 */
export async function releaseVmMounts(dirs: Array<string | undefined>): Promise<void> {
  if (!canMountOnHost()) return;
  for (const d of new Set(dirs.filter((x): x is string => !!x))) await unmountTree(d);
}
