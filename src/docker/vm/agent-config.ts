/**
 * The agent configuration of a block-mode VM (see disk/block.ts). A stemcell's agent.json says
 * how its agent treats the machine; for warden-style stemcells it says "bind-mount the persistent
 * disk's directory", which the agent's disk migration cannot complete in a container. A block VM
 * gets the stemcell's own configuration with the persistent-disk keys of an IaaS stemcell (mount
 * the device; it is formatted already; its path is the hint), as a file bound read-only over
 * /var/vcap/bosh/agent.json. The image stays as it is: other VMs of it keep their own mode.
 *
 * create_stemcell keeps the rootfs's agent.json as an image label; images without one (light
 * stemcells, images this CPI did not import) get no block mode.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageInspect, MountSpec } from '../engine/types';
import { L } from '../labels';

export const AGENT_CONFIG_PATH = '/var/vcap/bosh/agent.json';
const FILE = 'agent.json';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** The stemcell's agent configuration, when create_stemcell recorded one. */
export function stemcellAgentConfig(image: ImageInspect): Obj | undefined {
  const raw = image.Config?.Labels?.[L.agentConfig];
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The member of `o` named `key` in any case (Go's JSON decoding matches field names that way),
 * moved to the exact spelling so that a patched value cannot be shadowed by another spelling.
 */
function member(o: Obj, key: string): Obj {
  let found: Obj | undefined;
  for (const k of Object.keys(o)) {
    if (k.toLowerCase() !== key.toLowerCase()) continue;
    if (isObj(o[k])) found = { ...found, ...(o[k] as Obj) };
    delete o[k];
  }
  o[key] = found ?? {};
  return o[key] as Obj;
}

function set(o: Obj, key: string, value: unknown): void {
  for (const k of Object.keys(o)) if (k.toLowerCase() === key.toLowerCase()) delete o[k];
  o[key] = value;
}

/** The stemcell's configuration with the agent mounting device-node disks itself. */
export function blockAgentConfig(original: Obj): Obj {
  const config = JSON.parse(JSON.stringify(original)) as Obj;
  const linux = member(member(config, 'Platform'), 'Linux');
  set(linux, 'BindMountPersistentDisk', false);
  set(linux, 'UsePreformattedPersistentDisk', true);
  // The hint is the device's path in the VM (/warden-cpi-dev/<disk cid>): taken as it is.
  set(linux, 'DevicePathResolutionType', '');
  return config;
}

/** Writes the VM's agent configuration into its record directory; returns the bind mount for it. */
export function agentConfigMount(vmDir: string, config: Obj): MountSpec {
  const file = path.join(vmDir, FILE);
  fs.writeFileSync(file, JSON.stringify(config, null, 2) + '\n', { mode: 0o644 });
  return { Type: 'bind', Source: file, Target: AGENT_CONFIG_PATH, ReadOnly: true } as MountSpec;
}
