/**
 * Every VM gets a disk directory, <state_dir>/vms/<cid>/disks, bind-mounted into its container
 * at /warden-cpi-dev with rslave propagation: what is mounted under it on the host appears in
 * the running container. How disks get mounted there is the VM's disk mode:
 *
 * - host:     the CPI runs on the Docker host as root; the directory is made a shared mount
 *             point and the CPI mounts disks itself (milliseconds);
 * - helper:   the CPI cannot mount, but the directory's host mount already propagates (hosts
 *             whose / is shared, as under systemd); a short-lived helper container mounts;
 * - recreate: no live path (a remote engine, or private propagation without root): attaching
 *             recreates the container with the disk, keeping everything that matters.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DockerContext } from '../context';
import type { MountSpec } from '../engine/types';
import { canMountOnHost, isShared, makeSharedMountPoint, mountOf, unmountTree } from './host';

export type DiskMode = 'host' | 'helper' | 'recreate';
export const DEV_PATH = '/warden-cpi-dev';

export function diskDir(ctx: DockerContext, vmCid: string): string {
  return path.join(ctx.state.vmDir(vmCid), 'disks');
}

/** Where a disk appears inside the VM: also the agent's disk hint. */
export function hintFor(diskCid: string): string {
  return `${DEV_PATH}/${diskCid}`;
}

export interface PreparedDiskDir {
  mode: DiskMode;
  mounts: MountSpec[];
}

/** Sets up a new VM's disk directory. `engineSeesState`: the engine shares this machine's files. */
export async function prepareDiskDir(ctx: DockerContext, vmCid: string, engineSeesState: boolean): Promise<PreparedDiskDir> {
  if (!engineSeesState) return { mode: 'recreate', mounts: [] };
  const dir = diskDir(ctx, vmCid);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const bind = { Type: 'bind', Source: dir, Target: DEV_PATH, BindOptions: { Propagation: 'rslave' } } as MountSpec;
  if (canMountOnHost()) {
    await makeSharedMountPoint(dir);
    return { mode: 'host', mounts: [bind] };
  }
  if (isShared(mountOf(dir))) return { mode: 'helper', mounts: [bind] };
  return { mode: 'recreate', mounts: [] };
}

/** Removes the mounts the CPI made for a VM (its disks, the disk directory, a sized ephemeral disk). */
export async function releaseVmMounts(ctx: DockerContext, vmCid: string): Promise<void> {
  if (canMountOnHost()) await unmountTree(ctx.state.vmDir(vmCid));
}
