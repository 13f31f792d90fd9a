/**
 * The parts of the Engine API's payloads the CPI reads, typed from dockerode's definitions (types
 * only: nothing of dockerode is loaded for them).
 */
import type Dockerode from 'dockerode';

export type ContainerInspect = Dockerode.ContainerInspectInfo & {
  HostConfig: Dockerode.HostConfig & { Mounts?: Dockerode.MountSettings[] };
};
export type ContainerSummary = Dockerode.ContainerInfo;
export type ImageInspect = Dockerode.ImageInspectInfo;
export type NetworkInspect = Dockerode.NetworkInspectInfo;
export type VolumeInspect = Dockerode.VolumeInspectInfo & { CreatedAt?: string };
export type HostConfig = Dockerode.HostConfig;
export type ContainerCreateBody = Dockerode.ContainerCreateOptions;
export type MountSpec = Dockerode.MountSettings;
export type EndpointSettings = Dockerode.EndpointSettings;

export interface EngineInfo {
  ID: string;
  /** The engine host's name. */
  Name?: string;
  NCPU: number;
  MemTotal: number;
  CgroupVersion?: string;
  CgroupDriver?: string;
  MemoryLimit?: boolean;
  SwapLimit?: boolean;
  CpuCfsQuota?: boolean;
  PidsLimit?: boolean;
  OperatingSystem?: string;
  Architecture?: string;
  ServerVersion?: string;
  DockerRootDir?: string;
  SecurityOptions?: string[];
  /** Swarm membership: LocalNodeState `active` on a node; ControlAvailable only on managers. */
  Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string; NodeAddr?: string };
}
