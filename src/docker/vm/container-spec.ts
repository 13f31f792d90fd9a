/** The container-create request for a VM, from everything create_vm decided. */
import { VMCreationFailed } from '../../rpc/errors';
import type { ContainerCreateBody, HostConfig, MountSpec } from '../engine/types';
import type { NetworkPlan } from '../network/plan';
import type { VmProperties } from './cloud-properties';
import { portConfig } from './ports';
import type { StartConfig } from './start-mode';

export const EPHEMERAL_PATH = '/var/vcap/data';
const LXCFS_MEMINFO = '/var/lib/lxcfs/proc/meminfo';

export interface ContainerSpecInput {
  cid: string;
  imageId: string;
  labels: Record<string, string>;
  props: VmProperties;
  limits: Partial<HostConfig>;
  privileged: boolean;
  lxcfs: boolean;
  start: StartConfig;
  primary: NetworkPlan | undefined;
  dns: string[];
  /** The ephemeral disk: the VM's volume, or (sized) the host mount of the ext4 image in it. */
  ephemeral: { volume: string } | { hostPath: string };
  /** Bind mounts of the agent settings file (empty when delivered through the archive API). */
  settingsMounts: MountSpec[];
  /** Further CPI mounts (the persistent-disk directory). */
  extraMounts: MountSpec[];
  /** CPI binds (remote mode's disk directory on the engine's host). */
  extraBinds: string[];
  stopTimeout: number;
  /** What the CPI adds to the VM's capabilities and device cgroup (see vm/security.ts). */
  security?: SecurityExtras;
}

export interface SecurityExtras {
  capAdd: string[];
  capDrop: string[];
  deviceRules: string[];
}

const capName = (c: string) => c.toUpperCase().replace(/^CAP_/, '');

/** The user's CapAdd/CapDrop/DeviceCgroupRules with the CPI's added; the user's own choices win. */
function securityConfig(raw: Record<string, unknown>, extra: SecurityExtras | undefined): Record<string, string[]> {
  const userAdd = (raw['CapAdd'] as string[] | undefined) ?? [];
  const userDrop = (raw['CapDrop'] as string[] | undefined) ?? [];
  const rules = (raw['DeviceCgroupRules'] as string[] | undefined) ?? [];
  if (!extra) return {};
  const has = (list: string[], c: string) => list.some((x) => capName(x) === capName(c) || capName(x) === 'ALL');
  const capAdd = [...userAdd, ...extra.capAdd.filter((c) => !has(userDrop, c) && !has(userAdd, c))];
  const capDrop = [...userDrop, ...extra.capDrop.filter((c) => !has(userAdd, c) && !has(userDrop, c))];
  const deviceRules = [...rules, ...extra.deviceRules.filter((r) => !rules.includes(r))];
  return {
    ...(capAdd.length ? { CapAdd: capAdd } : {}),
    ...(capDrop.length ? { CapDrop: capDrop } : {}),
    ...(deviceRules.length ? { DeviceCgroupRules: deviceRules } : {}),
  };
}

export function endpointConfig(plan: NetworkPlan): Record<string, unknown> {
  if (plan.type !== 'manual' || !plan.ip) return {};
  return { IPAMConfig: plan.subnet?.family === 6 ? { IPv6Address: plan.ip } : { IPv4Address: plan.ip } };
}

/** The user's Mounts and Binds, refused where they would hide what the CPI mounts. */
function userMounts(props: VmProperties, reserved: Set<string>): { mounts: MountSpec[]; binds: string[] } {
  const mounts = ((props.hostConfig.Mounts as MountSpec[] | undefined) ?? []).map((m) => {
    const source = typeof m.Source === 'string' ? m.Source.replace(/^unix:\/\//, '') : m.Source; // the Go CPI allowed unix:// sources (docker/unix-sock.yml)
    return { ...m, Source: source } as MountSpec;
  });
  const binds = (props.hostConfig.Binds as string[] | undefined) ?? [];
  const targets = [...mounts.map((m) => m.Target), ...binds.map((b) => b.split(':')[1])];
  for (const t of targets) {
    const clean = (t ?? '').replace(/\/+$/, '');
    if (reserved.has(clean)) throw new VMCreationFailed(`invalid cloud_properties: a mount at ${clean} would hide what the CPI mounts there`);
  }
  return { mounts, binds };
}

export function containerSpec(i: ContainerSpecInput): ContainerCreateBody {
  const ports = portConfig(i.props.ports);
  const cpiMounts: MountSpec[] = [
    ('volume' in i.ephemeral
      ? { Type: 'volume', Source: i.ephemeral.volume, Target: EPHEMERAL_PATH }
      : { Type: 'bind', Source: i.ephemeral.hostPath, Target: EPHEMERAL_PATH }) as MountSpec,
    ...i.settingsMounts,
    ...i.extraMounts,
    ...i.start.mounts,
  ];
  if (i.lxcfs) cpiMounts.push({ Type: 'bind', Source: LXCFS_MEMINFO, Target: '/proc/meminfo', ReadOnly: true } as MountSpec);
  const reserved = new Set([...cpiMounts.map((m) => m.Target), ...i.extraBinds.map((b) => b.split(':')[1] ?? '')]);
  const { mounts, binds } = userMounts(i.props, reserved);

  const raw = { ...i.props.hostConfig };
  delete raw.Mounts;
  delete raw.Binds;
  const userPortBindings = (raw.PortBindings as Record<string, unknown[]> | undefined) ?? {};
  delete raw.PortBindings;
  const userTmpfs = (raw.Tmpfs as Record<string, string> | undefined) ?? {};
  delete raw.Tmpfs;

  const hostConfig: HostConfig & Record<string, unknown> = {
    ...raw,
    ...i.limits,
    ...securityConfig(raw, i.security),
    Privileged: i.privileged,
    Init: typeof raw['Init'] === 'boolean' ? raw['Init'] : i.start.init,
    Mounts: [...cpiMounts, ...mounts],
    ...(binds.length || i.extraBinds.length ? { Binds: [...i.extraBinds, ...binds] } : {}),
    PortBindings: { ...userPortBindings, ...ports.PortBindings },
    PublishAllPorts: (raw.PublishAllPorts as boolean | undefined) ?? ports.PublishAllPorts,
    Tmpfs: { ...i.start.tmpfs, ...userTmpfs },
    NetworkMode: i.primary?.docker ?? 'bridge',
    ...(i.dns.length && !raw.Dns ? { Dns: i.dns } : {}),
    ...(i.start.cgroupnsHost ? { CgroupnsMode: 'host' } : {}),
  };

  return {
    Hostname: i.cid.slice(0, 63),
    Image: i.imageId,
    Labels: i.labels,
    ExposedPorts: ports.ExposedPorts,
    StopTimeout: i.stopTimeout,
    ...i.start.body,
    HostConfig: hostConfig,
    NetworkingConfig: i.primary ? { EndpointsConfig: { [i.primary.docker]: endpointConfig(i.primary) } } : undefined,
  } as ContainerCreateBody;
}
