/**
 * Where an existing VM's files are, read from its container rather than from this CPI's layout:
 * the settings file and the disk directory are whatever the container has bound (another CPI
 * installation, an older release or another state dir may have made it), and the CPI's own
 * records go under the engine the container's label names.
 */
import * as path from 'node:path';
import type { ContainerInspect, MountSpec } from '../engine/types';
import { L } from '../labels';
import type { StateDirs } from './dirs';

/** Where a VM's disks appear inside its container (also the agent's disk hint prefix). */
export const DEV_PATH = '/warden-cpi-dev';

export interface VmPlace {
  cid: string;
  /** The engine the container's label names; undefined for containers made before the label. */
  engineId: string | undefined;
  /** The CPI's record directory for the VM (metadata, journal, the settings cache). */
  dir: string;
  /** The host file bound at the agent's settings path, when the settings are bind-mounted. */
  boundSettings: string | undefined;
  /** The host directory bound at /warden-cpi-dev (live disk modes). */
  diskDir: string | undefined;
}

function sourceAt(c: ContainerInspect, target: string): string | undefined {
  const m = ((c.HostConfig?.Mounts ?? []) as MountSpec[]).find((x) => x.Type === 'bind' && x.Target === target);
  return typeof m?.Source === 'string' ? m.Source : undefined;
}

export function placeOf(state: StateDirs, cid: string, c: ContainerInspect, settingsPath: string): VmPlace {
  const engineId = c.Config?.Labels?.[L.engineId];
  return {
    cid,
    engineId,
    dir: engineId ? state.vmDir(engineId, cid) : state.legacyVmDir(cid),
    boundSettings: sourceAt(c, settingsPath),
    diskDir: sourceAt(c, DEV_PATH),
  };
}

/** A new VM's place, before its container exists. */
export function newPlace(state: StateDirs, engineId: string, cid: string): VmPlace {
  const dir = state.vmDir(engineId, cid);
  return { cid, engineId, dir, boundSettings: path.join(dir, 'settings.json'), diskDir: path.join(dir, 'disks') };
}
