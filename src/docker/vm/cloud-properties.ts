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
 * Raw HostConfig keys the CPI passes to the engine, in Docker's spelling, each with the schema of
 * its value. Schemas are built only for the keys a VM type uses: each costs time to construct on
 * a cold process, and most VM types use none.
 */
type SchemaThunk = () => z.ZodMiniType;
const posInt: SchemaThunk = () => z.int().check(z.gte(0));
const int: SchemaThunk = () => z.int();
const str: SchemaThunk = () => z.string();
const strList: SchemaThunk = () => z.array(z.string());
const obj: SchemaThunk = () => z.record(z.string(), z.unknown());
const objList: SchemaThunk = () => z.array(z.record(z.string(), z.unknown()));
const bool: SchemaThunk = () => z.boolean();
const strMap: SchemaThunk = () => z.record(z.string(), z.string());

const HOST_CONFIG: Record<string, SchemaThunk> = {
  Memory: posInt,
  MemorySwap: int,
  MemoryReservation: posInt,
  MemorySwappiness: () => z.int().check(z.gte(-1), z.lte(100)),
  NanoCpus: posInt,
  CpuShares: posInt,
  CpuPeriod: posInt,
  CpuQuota: int,
  CpuRealtimePeriod: posInt,
  CpuRealtimeRuntime: posInt,
  CpusetCpus: str,
  CpusetMems: str,
  PidsLimit: int,
  BlkioWeight: posInt,
  BlkioWeightDevice: objList,
  BlkioDeviceReadBps: objList,
  BlkioDeviceWriteBps: objList,
  BlkioDeviceReadIOps: objList,
  BlkioDeviceWriteIOps: objList,
  OomKillDisable: bool,
  OomScoreAdj: int,
  Ulimits: objList,
  Devices: objList,
  DeviceCgroupRules: strList,
  DeviceRequests: objList,
  CapAdd: strList,
  CapDrop: strList,
  SecurityOpt: strList,
  ShmSize: posInt,
  Tmpfs: strMap,
  Sysctls: strMap,
  Dns: strList,
  DnsOptions: strList,
  DnsSearch: strList,
  ExtraHosts: strList,
  GroupAdd: strList,
  IpcMode: str,
  PidMode: str,
  UTSMode: str,
  UsernsMode: str,
  CgroupnsMode: () => z.enum(['host', 'private']),
  Cgroup: str,
  CgroupParent: str,
  Runtime: str,
  Privileged: bool,
  PublishAllPorts: bool,
  PortBindings: () => z.record(z.string(), z.nullable(z.array(z.record(z.string(), z.unknown())))),
  Mounts: objList,
  Binds: strList,
  VolumesFrom: strList,
  VolumeDriver: str,
  ReadonlyRootfs: bool,
  ReadonlyPaths: strList,
  MaskedPaths: strList,
  StorageOpt: strMap,
  LogConfig: obj,
  RestartPolicy: obj,
  Init: () => z.nullable(z.boolean()),
  IOMaximumBandwidth: posInt,
  IOMaximumIOps: posInt,
};
const HOST_CONFIG_BY_LOWER = new Map(Object.keys(HOST_CONFIG).map((k) => [k.toLowerCase(), k]));

/** HostConfig keys the CPI owns: networks, lifecycle. */
const FORBIDDEN = new Set(['networkmode', 'autoremove', 'links', 'containeridfile']);

const FRIENDLY: Record<string, SchemaThunk> = {
  cpus: () => z.number().check(z.gt(0)),
  memory: () => z.int().check(z.gte(6)),
  ephemeral_disk: () => z.int().check(z.gte(1)),
  ports: () => z.array(z.union([z.string(), z.int(), z.record(z.string(), z.unknown())])),
  privileged: bool,
  force_start_with_systemd: bool,
  force_start_without_systemd: bool,
  force_lxcfs_enabled: bool,
  force_lxcfs_disabled: bool,
};
type FriendlyKey = keyof typeof FRIENDLY;

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
  for (const [key, value] of Object.entries(cp)) {
    if (value === null || value === undefined) continue;
    const friendlySchema = Object.prototype.hasOwnProperty.call(FRIENDLY, key) ? FRIENDLY[key] : undefined;
    if (friendlySchema) {
      friendly[key] = check(key, friendlySchema(), value);
      continue;
    }
    const lower = key.toLowerCase();
    if (FORBIDDEN.has(lower)) fail(`${key} is managed by the CPI and cannot be set`);
    const dockerKey = HOST_CONFIG_BY_LOWER.get(lower);
    if (dockerKey) {
      if (dockerKey in out.hostConfig) fail(`${key} is given twice (in different spellings)`);
      out.hostConfig[dockerKey] = check(key, (HOST_CONFIG[dockerKey] as SchemaThunk)(), value);
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
