/**
 * VM cloud_properties: everything the Go Docker CPI accepted (`ports`, the `force_*` switches and
 * raw Docker HostConfig keys) plus friendly lowercase keys.
 *
 * The Go CPI matched keys case-insensitively, so its `memory` meant Docker's Memory, in bytes.
 * Here exact-lowercase `memory` is the friendly key, in MiB (as `cpus` is a count and
 * `ephemeral_disk` MiB); every other spelling of a Docker key (`Memory`, `MEMORY`, `cpushares`)
 * is Docker's, with Docker's unit. A manifest carrying `memory: 1073741824` (bytes, Go CPI style)
 * then fails the host-capacity check with a hint instead of silently meaning something else.
 */
import * as z from 'zod/mini';
import type { CloudProperties } from '../../cpi/schemas';
import { VMCreationFailed } from '../../rpc/errors';
import { describeIssue, formatPath } from '../../runtime/issues';
import type { HostConfig } from '../engine/types';
import { parsePorts, type PortSpec } from './ports';

/**
 * Raw HostConfig keys the CPI passes to the engine, in Docker's spelling. Built on first use:
 * each zod schema costs time to construct, and most calls (has_vm, delete_vm) never need them.
 */
function hostConfigSchemas(): { byName: Record<string, z.ZodMiniType>; byLower: Map<string, string> } {
  const PosInt = z.int().check(z.gte(0));
  const Str = z.string();
  const StrList = z.array(z.string());
  const Obj = z.record(z.string(), z.unknown());
  const ObjList = z.array(Obj);
  const Bool = z.boolean();
  const StrMap = z.record(z.string(), z.string());
  const byName: Record<string, z.ZodMiniType> = {
    Memory: PosInt,
    MemorySwap: z.int(),
    MemoryReservation: PosInt,
    MemorySwappiness: z.int().check(z.gte(-1), z.lte(100)),
    NanoCpus: PosInt,
    CpuShares: PosInt,
    CpuPeriod: PosInt,
    CpuQuota: z.int(),
    CpuRealtimePeriod: PosInt,
    CpuRealtimeRuntime: PosInt,
    CpusetCpus: Str,
    CpusetMems: Str,
    PidsLimit: z.int(),
    BlkioWeight: PosInt,
    BlkioWeightDevice: ObjList,
    BlkioDeviceReadBps: ObjList,
    BlkioDeviceWriteBps: ObjList,
    BlkioDeviceReadIOps: ObjList,
    BlkioDeviceWriteIOps: ObjList,
    OomKillDisable: Bool,
    OomScoreAdj: z.int(),
    Ulimits: ObjList,
    Devices: ObjList,
    DeviceCgroupRules: StrList,
    DeviceRequests: ObjList,
    CapAdd: StrList,
    CapDrop: StrList,
    SecurityOpt: StrList,
    ShmSize: PosInt,
    Tmpfs: StrMap,
    Sysctls: StrMap,
    Dns: StrList,
    DnsOptions: StrList,
    DnsSearch: StrList,
    ExtraHosts: StrList,
    GroupAdd: StrList,
    IpcMode: Str,
    PidMode: Str,
    UTSMode: Str,
    UsernsMode: Str,
    CgroupnsMode: z.enum(['host', 'private']),
    Cgroup: Str,
    CgroupParent: Str,
    Runtime: Str,
    Privileged: Bool,
    PublishAllPorts: Bool,
    PortBindings: z.record(z.string(), z.nullable(ObjList)),
    Mounts: ObjList,
    Binds: StrList,
    VolumesFrom: StrList,
    VolumeDriver: Str,
    ReadonlyRootfs: Bool,
    ReadonlyPaths: StrList,
    MaskedPaths: StrList,
    StorageOpt: StrMap,
    LogConfig: Obj,
    RestartPolicy: Obj,
    Init: z.nullable(Bool),
    IOMaximumBandwidth: PosInt,
    IOMaximumIOps: PosInt,
  };
  const byLower = new Map(Object.keys(byName).map((k) => [k.toLowerCase(), k]));
  return { byName, byLower };
}

/** HostConfig keys the CPI owns: networks, lifecycle. */
const FORBIDDEN = new Set(['networkmode', 'autoremove', 'links', 'containeridfile']);

function friendlySchemas() {
  return {
    cpus: z.number().check(z.gt(0)),
    memory: z.int().check(z.gte(6)),
    ephemeral_disk: z.int().check(z.gte(1)),
    ports: z.array(z.union([z.string(), z.int(), z.record(z.string(), z.unknown())])),
    privileged: z.boolean(),
    force_start_with_systemd: z.boolean(),
    force_start_without_systemd: z.boolean(),
    force_lxcfs_enabled: z.boolean(),
    force_lxcfs_disabled: z.boolean(),
  } as const;
}
const FRIENDLY_KEYS = new Set(['cpus', 'memory', 'ephemeral_disk', 'ports', 'privileged', 'force_start_with_systemd', 'force_start_without_systemd', 'force_lxcfs_enabled', 'force_lxcfs_disabled']);
type FriendlyKey = keyof ReturnType<typeof friendlySchemas>;

export interface VmProperties {
  cpus?: number;
  memoryMiB?: number;
  ephemeralDiskMiB?: number;
  ports: PortSpec[];
  privileged?: boolean;
  /** true: systemd; false: not systemd; undefined: as configured / detected. */
  systemd?: boolean;
  /** true/false: forced; undefined: as configured. */
  lxcfs?: boolean;
  /** Raw Docker keys, in Docker's spelling and units. */
  hostConfig: Partial<HostConfig> & Record<string, unknown>;
  warnings: string[];
}

function fail(message: string): never {
  throw new VMCreationFailed(`invalid cloud_properties: ${message}`);
}

function check<T>(key: string, schema: z.ZodMiniType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const sub = issue ? formatPath(issue.path) : '';
  const where = sub ? `${key}${sub.startsWith('[') ? '' : '.'}${sub}` : key;
  return fail(`${where}: ${issue ? describeIssue(issue, value) : 'is invalid'}`);
}

export function parseVmProperties(cp: CloudProperties): VmProperties {
  const out: VmProperties = { ports: [], hostConfig: {}, warnings: [] };
  const friendly: Partial<Record<FriendlyKey, unknown>> = {};
  const FRIENDLY = friendlySchemas();
  const docker = hostConfigSchemas();
  for (const [key, value] of Object.entries(cp)) {
    if (value === null || value === undefined) continue;
    if (FRIENDLY_KEYS.has(key)) {
      friendly[key as FriendlyKey] = check(key, FRIENDLY[key as FriendlyKey] as z.ZodMiniType, value);
      continue;
    }
    const lower = key.toLowerCase();
    if (FORBIDDEN.has(lower)) fail(`${key} is managed by the CPI and cannot be set`);
    const dockerKey = docker.byLower.get(lower);
    if (dockerKey) {
      if (dockerKey in out.hostConfig) fail(`${key} is given twice (in different spellings)`);
      out.hostConfig[dockerKey] = check(key, docker.byName[dockerKey] as z.ZodMiniType, value);
      continue;
    }
    // Other CPIs' keys in a shared vm_type are harmless; a typo is worth a warning in the task log.
    out.warnings.push(`cloud_properties.${key} is not used by the Docker CPI and was ignored`);
  }

  if (friendly.cpus !== undefined) {
    if (out.hostConfig.NanoCpus !== undefined || out.hostConfig.CpuQuota !== undefined) fail('give either cpus or NanoCpus/CpuQuota, not both');
    out.cpus = friendly.cpus as number;
  }
  if (friendly.memory !== undefined) {
    if (out.hostConfig.Memory !== undefined) fail('give either memory (MiB) or Memory (bytes), not both');
    out.memoryMiB = friendly.memory as number;
  }
  if (friendly.ephemeral_disk !== undefined) out.ephemeralDiskMiB = friendly.ephemeral_disk as number;
  if (friendly.privileged !== undefined) {
    if (out.hostConfig.Privileged !== undefined && out.hostConfig.Privileged !== friendly.privileged) fail('privileged and Privileged disagree');
    out.privileged = friendly.privileged as boolean;
  } else if (out.hostConfig.Privileged !== undefined) {
    out.privileged = out.hostConfig.Privileged;
  }
  delete out.hostConfig.Privileged;
  if (friendly.force_start_with_systemd && friendly.force_start_without_systemd) fail('force_start_with_systemd and force_start_without_systemd are both set');
  if (friendly.force_start_with_systemd) out.systemd = true;
  if (friendly.force_start_without_systemd) out.systemd = false;
  if (friendly.force_lxcfs_enabled && friendly.force_lxcfs_disabled) fail('force_lxcfs_enabled and force_lxcfs_disabled are both set');
  if (friendly.force_lxcfs_enabled) out.lxcfs = true;
  if (friendly.force_lxcfs_disabled) out.lxcfs = false;
  if (friendly.ports !== undefined) {
    try {
      out.ports = parsePorts(friendly.ports as unknown[]);
    } catch (e) {
      fail(`ports: ${(e as Error).message}`);
    }
  }
  return out;
}
