/**
 * CPU and memory: cloud_properties → cgroup limits the engine applies (cgroup v1 or v2 alike),
 * checked against what the Docker host has and can enforce, and vm_resources → cloud_properties.
 */
import type { CloudProperties, VmResources } from '../../cpi/schemas';
import { CloudError, VMCreationFailed } from '../../rpc/errors';
import type { EngineInfo, HostConfig } from '../engine/types';
import type { VmProperties } from './cloud-properties';

const MiB = 1024 * 1024;

function gib(bytes: number): string {
  return `${(bytes / (1024 * MiB)).toFixed(1)} GiB`;
}

/** The resource part of HostConfig: friendly keys converted, raw Docker keys as given. */
export function resourceLimits(props: VmProperties): Partial<HostConfig> {
  const r: Partial<HostConfig> = {};
  if (props.cpus !== undefined) r.NanoCpus = Math.round(props.cpus * 1e9);
  if (props.memoryMiB !== undefined) r.Memory = props.memoryMiB * MiB;
  return r;
}

/** Refuses limits the host cannot give or enforce, with the numbers. */
export function checkCapacity(limits: Partial<HostConfig> & Record<string, unknown>, props: VmProperties, info: EngineInfo): void {
  const nano = limits.NanoCpus ?? (limits.CpuQuota && limits.CpuPeriod ? (limits.CpuQuota / limits.CpuPeriod) * 1e9 : undefined);
  if (nano !== undefined && nano > 0) {
    const cpus = nano / 1e9;
    if (cpus > info.NCPU) throw new VMCreationFailed(`cpus ${cpus} exceeds the ${info.NCPU} CPUs of the Docker host`);
    if (info.CpuCfsQuota === false) throw new VMCreationFailed('the Docker host cannot enforce CPU limits (no CFS quota support in its cgroups)');
  }
  const mem = limits.Memory;
  if (mem !== undefined && mem > 0) {
    if (mem > info.MemTotal) {
      const hint = props.memoryMiB !== undefined && props.memoryMiB >= 1024 * 1024 ? ' (memory is in MiB here; Docker\'s Memory key takes bytes)' : '';
      const asked = props.memoryMiB !== undefined ? `memory ${props.memoryMiB} MiB` : `Memory ${mem} bytes`;
      throw new VMCreationFailed(`${asked} exceeds the Docker host's ${gib(info.MemTotal)}${hint}`);
    }
    if (info.MemoryLimit === false) throw new VMCreationFailed('the Docker host cannot enforce memory limits (its cgroup memory controller is not available)');
  }
  if (limits.PidsLimit !== undefined && limits.PidsLimit > 0 && info.PidsLimit === false) {
    throw new VMCreationFailed('the Docker host cannot enforce PidsLimit (no pids cgroup controller)');
  }
}

/** vm_resources (cpu count, ram MiB, ephemeral_disk_size MiB) → the friendly cloud_properties. */
export function cloudPropertiesFor(resources: VmResources, info: EngineInfo): CloudProperties {
  if (resources.cpu > info.NCPU) throw new CloudError(`no VM type fits: ${resources.cpu} CPUs requested, the Docker host has ${info.NCPU}`);
  if (resources.ram * MiB > info.MemTotal) throw new CloudError(`no VM type fits: ${resources.ram} MiB of RAM requested, the Docker host has ${gib(info.MemTotal)}`);
  const cp: CloudProperties = { cpus: resources.cpu, memory: resources.ram };
  if (resources.ephemeral_disk_size > 0) cp['ephemeral_disk'] = resources.ephemeral_disk_size;
  return cp;
}
