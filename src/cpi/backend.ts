/**
 * What a backend implements. Every method is optional: the dispatcher answers
 * Bosh::Clouds::NotImplemented for one a backend leaves out, never a success that did nothing.
 * Results are in their v2 form; the dispatcher reshapes them for v1 callers.
 */
import type { Config } from '../config/schema';
import type { Logger } from '../log/logger';
import type { CloudProperties, DiskHint, Env, Metadata, NetworkDefinition, Networks, VmResources } from './schemas';

export interface CallContext {
  readonly config: Config;
  readonly log: Logger;
  /** The CPI contract version of this request (1 when the caller sent none). */
  readonly apiVersion: number;
  /** context.vm.stemcell.api_version, when the caller sent it. */
  readonly stemcellApiVersion?: number;
  readonly requestId?: string;
  readonly directorUuid?: string;
}

export interface CreateVmInput {
  agentId: string;
  stemcellCid: string;
  cloudProperties: CloudProperties;
  networks: Networks;
  diskCids: string[];
  env: Env;
}

export interface CreateVmResult {
  cid: string;
  /** The networks with the addresses actually assigned. */
  networks: Networks;
}

export interface CreateNetworkResult {
  id: string;
  range: string;
  gateway: string;
  reserved: string[];
  cloudProperties: CloudProperties;
}

export interface CpiBackend {
  readonly name: string;

  createStemcell?(imagePath: string, cloudProperties: CloudProperties, env: Record<string, unknown>): Promise<string>;
  deleteStemcell?(stemcellCid: string): Promise<void>;

  createVm?(input: CreateVmInput): Promise<CreateVmResult>;
  deleteVm?(vmCid: string): Promise<void>;
  hasVm?(vmCid: string): Promise<boolean>;
  rebootVm?(vmCid: string): Promise<void>;
  setVmMetadata?(vmCid: string, metadata: Metadata): Promise<void>;
  calculateVmCloudProperties?(resources: VmResources): Promise<CloudProperties>;
  currentVmId?(): Promise<string>;

  createDisk?(sizeMiB: number, cloudProperties: CloudProperties, vmCid: string | null): Promise<string>;
  deleteDisk?(diskCid: string): Promise<void>;
  attachDisk?(vmCid: string, diskCid: string): Promise<DiskHint>;
  detachDisk?(vmCid: string, diskCid: string): Promise<void>;
  hasDisk?(diskCid: string): Promise<boolean>;
  getDisks?(vmCid: string): Promise<string[]>;
  resizeDisk?(diskCid: string, newSizeMiB: number): Promise<void>;
  /** The new disk's CID when the disk was replaced, or null when updated in place. */
  updateDisk?(diskCid: string, newSizeMiB: number, cloudProperties: CloudProperties): Promise<string | null>;
  setDiskMetadata?(diskCid: string, metadata: Metadata): Promise<void>;
  snapshotDisk?(diskCid: string, metadata: Metadata): Promise<string>;
  deleteSnapshot?(snapshotCid: string): Promise<void>;

  createNetwork?(definition: NetworkDefinition): Promise<CreateNetworkResult>;
  deleteNetwork?(networkId: string): Promise<void>;
}
