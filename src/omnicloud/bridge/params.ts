/**
 * BOSH arguments as provider parameters. Every method gets the standardization's names (§7) and
 * the container guide's, so one provider file can be written in either vocabulary:
 *
 * - a VM: `vm_cid`, `worker_id`, `container_id`, `id`, and `name` (single-VM methods);
 * - a disk: `disk_cid`, `disk_id`, `volume`, `volume_id`, `volume_name`, and `name` (single-disk
 *   methods; for attach/detach `name` is the VM, as in the guide's attach_volume);
 * - create_vm: `agent_id`, a fresh `name` (`vm-<uuid>`), `image` and `stemcell_cid` (the stemcell
 *   CID), `cloud_properties`, `networks`, `env`, `disk_cids` (JSON values), `agent_settings` (the
 *   agent settings document of contract §8.2, networks marked preconfigured), `network` (the default network's
 *   cloud_properties.name, else its name) and `ip` (its static IP, if any); the top-level
 *   cloud_properties keys are manifest values (manifestParams), below the operator's settings;
 * - create_disk: `size_mb`/`size_mib` (BOSH's MiB), `size_gb` (GiB rounded up, at least 1), a fresh
 *   `name` (`disk-<uuid>`), cloud_properties keys;
 * - everywhere: `state_dir`, `labels` (the configuration's labels), `label_list` (`k=v` strings)
 *   and `label_flags` (`--label k=v …`, for CLIs; an argv word that is just `{label_flags}`
 *   becomes one argument per element).
 *
 * The bridge's names win over everything else, cloud_properties keys included.
 */
import { randomUUID } from 'node:crypto';
import type { CallContext } from '../../cpi/backend';
import type { NetworkDefinition, Networks } from '../../cpi/schemas';
import { buildAgentSettings } from '../../docker/settings/agent-settings';
import { containerNetworkParams, containerPortParams } from './container-params';

type Params = Record<string, unknown>;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function common(call: CallContext): Params {
  const labels = call.config.labels;
  const list = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return { state_dir: call.config.state_dir, labels, label_list: list, label_flags: list.flatMap((l) => ['--label', l]) };
}

/**
 * The top-level keys of a manifest's cloud_properties, as the parameters they would fill. They rank
 * below the operator's settings and may only fill parameters the provider declares overridable
 * (backend.ts checks; a key that is not an identifier can fill none and is refused there too).
 */
export function manifestParams(obj: Readonly<Record<string, unknown>>): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(obj)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

/** Stemcell cloud_properties (from stemcell.MF) as `stemcell_<key>`: only identifier keys. */
function stemcellProps(obj: Readonly<Record<string, unknown>>): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(obj)) if (IDENT.test(`stemcell_${k}`) && v !== null && v !== undefined) out[`stemcell_${k}`] = v;
  return out;
}

export function vmParams(cid: string): Params {
  return { vm_cid: cid, worker_id: cid, container_id: cid, id: cid, name: cid };
}

export function diskParams(cid: string): Params {
  return { disk_cid: cid, disk_id: cid, volume: cid, volume_id: cid, volume_name: cid, name: cid };
}

export function attachParams(vm: string, disk: string): Params {
  return { ...diskParams(disk), ...vmParams(vm), mount_point: `/warden-cpi-dev/${disk}` };
}

export function freshName(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}


/**
 * The agent settings document (contract §8.2), for providers that deliver it to the VM: the Docker
 * backend's, with networks marked preconfigured and no vm.id (the CID may be the provider's, known
 * only once create_vm has run).
 */
function agentSettings(call: CallContext, agentId: string, vmName: string, networks: Networks, env: Record<string, unknown>): Record<string, unknown> {
  const nets: Networks = {};
  for (const [k, n] of Object.entries(networks)) nets[k] = { ...n, preconfigured: true };
  return { ...buildAgentSettings({ agentId, vmCid: vmName, agent: call.config.agent, networks: nets, env }), vm: { name: vmName } };
}

export function createVmParams(
  call: CallContext,
  input: {
    agentId: string;
    stemcellCid: string;
    cloudProperties: Record<string, unknown>;
    networks: Networks;
    diskCids: string[];
    env: Record<string, unknown>;
  },
): Params {
  const name = freshName('vm');
  const out: Params = {
    agent_id: input.agentId,
    name,
    agent_settings: agentSettings(call, input.agentId, name, input.networks, input.env),
    image: input.stemcellCid,
    stemcell_cid: input.stemcellCid,
    cloud_properties: input.cloudProperties,
    networks: input.networks,
    env: input.env,
    disk_cids: input.diskCids,
  };
  Object.assign(out, containerNetworkParams(input.networks), containerPortParams(input.cloudProperties['ports']), {
    agent_settings_json: JSON.stringify(out['agent_settings']),
    // Labels of a network a provider creates for the VM: the configuration's, and a mark that it did.
    network_labels: { ...call.config.labels, 'bosh.omnicloud.implicit': 'true' },
  });
  return out;
}

/** A disk size (BOSH's MiB) in MiB and in GiB rounded up, at least 1. */
function sizeParams(sizeMiB: number): Params {
  return { size_mb: sizeMiB, size_mib: sizeMiB, size_gb: Math.max(1, Math.ceil(sizeMiB / 1024)) };
}

export function createDiskParams(sizeMiB: number, cloudProperties: Record<string, unknown>, vmCid: string | null): Params {
  const out: Params = { name: freshName('disk'), size: sizeMiB, ...sizeParams(sizeMiB), cloud_properties: cloudProperties };
  if (vmCid) Object.assign(out, { vm_cid: vmCid, worker_id: vmCid });
  return out;
}

export function resizeDiskParams(cid: string, sizeMiB: number): Params {
  return { ...diskParams(cid), ...sizeParams(sizeMiB), new_size: sizeMiB };
}

export function updateDiskParams(cid: string, sizeMiB: number, cloudProperties: Record<string, unknown>): Params {
  return { size: sizeMiB, ...sizeParams(sizeMiB), cloud_properties: cloudProperties, ...diskParams(cid), new_size: sizeMiB };
}

export function createNetworkParams(def: NetworkDefinition): Params {
  const cp = def.cloud_properties ?? {};
  const out: Params = { name: freshName('net'), type: def.type, cloud_properties: cp };
  if (def.range !== undefined) out['range'] = def.range;
  if (def.gateway !== undefined) out['gateway'] = def.gateway;
  if (def.netmask_bits !== undefined) out['netmask_bits'] = def.netmask_bits;
  return out;
}

export function createStemcellParams(imagePath: string, cloudProperties: Record<string, unknown>): Params {
  const out: Params = { ...stemcellProps(cloudProperties), image_path: imagePath, name: freshName('stemcell'), cloud_properties: cloudProperties };
  return out;
}

export function metadataParams(metadata: Record<string, unknown>): Params {
  return { metadata, metadata_list: Object.entries(metadata).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`) };
}
