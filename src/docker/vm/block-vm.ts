/**
 * create_vm's part of disk mode `block` (see disk/block.ts): whether a new VM gets it, and what
 * its container then needs (its loop minors, the device cgroup rules for them, its agent's
 * configuration).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DockerContext } from '../context';
import { isLocalEndpoint } from '../engine/endpoint';
import type { ImageInspect, MountSpec } from '../engine/types';
import { deviceRules, releaseSlots, reserveSlots } from '../disk/block';
import { canMountOnHost } from '../disk/host';
import { findDisk } from '../disk/volumes';
import { agentConfigMount, blockAgentConfig, stemcellAgentConfig } from './agent-config';
import type { Undo } from './undo';

export interface BlockVmPlan {
  agentConfig: Record<string, unknown>;
}

export interface BlockVm {
  minors: number[];
  rules: string[];
  mounts: MountSpec[];
}

/**
 * A VM gets block devices where the CPI makes them (on the engine's host, as root), its stemcell
 * names its agent's configuration, and no disk it is created with is a directory disk (those can
 * only be bind-mounted: such a VM keeps the stemcell's own agent configuration).
 */
export async function planBlockVm(ctx: DockerContext, image: ImageInspect, diskCids: string[]): Promise<BlockVmPlan | undefined> {
  if (!canMountOnHost() || !isLocalEndpoint(ctx.engine.endpoint) || ctx.config.settings_delivery === 'archive' || !hostHasLoopTools()) return undefined;
  const original = stemcellAgentConfig(image);
  if (!original) return undefined;
  const disks = await Promise.all(diskCids.map((cid) => findDisk(ctx, cid)));
  const directory = disks.find((d) => d?.backing === 'directory');
  if (directory) {
    ctx.log.info('the VM is created with a directory disk: its disks are bind-mounted, not presented as block devices', { disk: directory.cid });
    return undefined;
  }
  return { agentConfig: blockAgentConfig(original) };
}

/** The kernel's loop devices and the tools block mode runs (as host.ts runs them: this PATH). */
function hostHasLoopTools(): boolean {
  const on = (tool: string) => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => fs.existsSync(path.join(d, tool)));
  return fs.existsSync('/dev/loop-control') && on('losetup') && on('mknod');
}

/** Claims the VM's loop devices and writes its agent's configuration; undone with the VM. */
export async function setUpBlockVm(ctx: DockerContext, vmDir: string, diskDir: string, plan: BlockVmPlan, undo: Undo): Promise<BlockVm> {
  const minors = await reserveSlots(ctx, vmDir);
  undo.push('release the VM\'s loop devices', () => releaseSlots(minors, vmDir, diskDir));
  return { minors, rules: deviceRules(minors), mounts: [agentConfigMount(vmDir, plan.agentConfig)] };
}
