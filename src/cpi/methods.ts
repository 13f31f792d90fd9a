/**
 * Every method of the CPI contract (§5) with its positional arguments and how its result is
 * shaped for the caller's API version. Routing to the backend happens here, in one place.
 */
import { CpiError, NotImplemented } from '../rpc/errors';
import { arg, optionalArg, parseArguments, type ArgSpec, type ParsedArgs } from './arguments';
import type { CallContext, CpiBackend } from './backend';
import type * as Schemas from './schemas';

// Loaded on first use: building zod schemas costs about a millisecond each on a cold process,
// and `info` must not pay for the schemas of other methods.
const schemas = (): typeof Schemas => require('./schemas') as typeof Schemas;

export const STEMCELL_FORMATS = ['warden-tar', 'general-tar', 'docker-light'] as const;
export const CPI_API_VERSION = 2;

interface MethodEntry {
  /** false for info and ping, which answer from the core without configuration or backend. */
  readonly usesBackend: boolean;
  run(raw: readonly unknown[], call?: CallContext, backend?: () => CpiBackend): Promise<unknown>;
}

function method<const A extends readonly ArgSpec[]>(
  name: string,
  specs: () => A,
  run: (b: CpiBackend, args: ParsedArgs<A>, call: CallContext) => Promise<unknown>,
): MethodEntry {
  return {
    usesBackend: true,
    run: async (raw, call, backend) => {
      if (!call || !backend) throw new Error(`${name} needs a configured backend`);
      // Arguments are checked before the backend (and its heavy modules) is loaded.
      const args = parseArguments(name, specs(), raw);
      return run(backend(), args, call);
    },
  };
}

/** The backend's implementation of a method, or NotImplemented. */
function impl<K extends keyof CpiBackend>(b: CpiBackend, key: K, wire: string): NonNullable<CpiBackend[K]> {
  const f = b[key];
  if (typeof f !== 'function') throw new NotImplemented(`Must call implemented method: '${wire}' is not implemented by the ${b.name} backend`);
  return (f as (...a: unknown[]) => unknown).bind(b) as NonNullable<CpiBackend[K]>;
}

const isV2 = (call: CallContext) => call.apiVersion >= 2;

const vmCid = () => arg('vm_cid', schemas().Cid);
const diskCid = () => arg('disk_cid', schemas().Cid);

export const METHODS: Readonly<Record<string, MethodEntry>> = {
  info: {
    usesBackend: false,
    run: async () => ({ stemcell_formats: [...STEMCELL_FORMATS], api_version: CPI_API_VERSION }),
  },
  ping: {
    usesBackend: false,
    run: async () => 'pong',
  },

  create_stemcell: method(
    'create_stemcell',
    () => [arg('image_path', schemas().FilePath), arg('cloud_properties', schemas().CloudProperties), optionalArg('env', schemas().ObjectOrNull)] as const,
    (b, [imagePath, cp, env], _call) => impl(b, 'createStemcell', 'create_stemcell')(imagePath, cp, env ?? {}),
  ),
  delete_stemcell: method(
    'delete_stemcell',
    () => [arg('stemcell_cid', schemas().Cid)] as const,
    async (b, [cid]) => {
      await impl(b, 'deleteStemcell', 'delete_stemcell')(cid);
      return null;
    },
  ),

  create_vm: method(
    'create_vm',
    () =>
      [
        arg('agent_id', schemas().Cid),
        arg('stemcell_cid', schemas().Cid),
        arg('cloud_properties', schemas().CloudProperties),
        arg('networks', schemas().Networks),
        arg('disk_cids', schemas().DiskCids),
        arg('env', schemas().Env),
      ] as const,
    async (b, [agentId, stemcellCid, cloudProperties, networks, diskCids, env], call) => {
      const vm = await impl(b, 'createVm', 'create_vm')({ agentId, stemcellCid, cloudProperties, networks, diskCids, env });
      return isV2(call) ? [vm.cid, vm.networks] : vm.cid;
    },
  ),
  delete_vm: method('delete_vm', () => [vmCid()] as const, async (b, [cid]) => {
    await impl(b, 'deleteVm', 'delete_vm')(cid);
    return null;
  }),
  has_vm: method('has_vm', () => [vmCid()] as const, (b, [cid]) => impl(b, 'hasVm', 'has_vm')(cid)),
  reboot_vm: method('reboot_vm', () => [vmCid()] as const, async (b, [cid]) => {
    await impl(b, 'rebootVm', 'reboot_vm')(cid);
    return null;
  }),
  set_vm_metadata: method(
    'set_vm_metadata',
    () => [vmCid(), arg('metadata', schemas().Metadata)] as const,
    async (b, [cid, md]) => {
      await impl(b, 'setVmMetadata', 'set_vm_metadata')(cid, md);
      return null;
    },
  ),
  calculate_vm_cloud_properties: method(
    'calculate_vm_cloud_properties',
    () => [arg('vm_resources', schemas().VmResources)] as const,
    (b, [resources]) => impl(b, 'calculateVmCloudProperties', 'calculate_vm_cloud_properties')(resources),
  ),
  current_vm_id: method('current_vm_id', () => [] as const, (b) => impl(b, 'currentVmId', 'current_vm_id')()),

  create_disk: method(
    'create_disk',
    () => [arg('size', schemas().SizeMiB), arg('cloud_properties', schemas().CloudProperties), optionalArg('vm_cid', schemas().NullableCid)] as const,
    (b, [size, cp, vm]) => impl(b, 'createDisk', 'create_disk')(size, cp, vm ?? null),
  ),
  delete_disk: method('delete_disk', () => [diskCid()] as const, async (b, [cid]) => {
    await impl(b, 'deleteDisk', 'delete_disk')(cid);
    return null;
  }),
  attach_disk: method('attach_disk', () => [vmCid(), diskCid()] as const, async (b, [vm, disk], call) => {
    const hint = await impl(b, 'attachDisk', 'attach_disk')(vm, disk);
    if (!isV2(call)) return null;
    // The Director rejects a null or empty hint (AttachDiskResponseError).
    if (hint === '' || (typeof hint === 'object' && Object.keys(hint).length === 0)) {
      throw new CpiError(`attach_disk: the ${b.name} backend returned an empty disk hint for ${disk}`);
    }
    return hint;
  }),
  detach_disk: method('detach_disk', () => [vmCid(), diskCid()] as const, async (b, [vm, disk]) => {
    await impl(b, 'detachDisk', 'detach_disk')(vm, disk);
    return null;
  }),
  has_disk: method('has_disk', () => [diskCid()] as const, (b, [cid]) => impl(b, 'hasDisk', 'has_disk')(cid)),
  get_disks: method('get_disks', () => [vmCid()] as const, (b, [cid]) => impl(b, 'getDisks', 'get_disks')(cid)),
  resize_disk: method('resize_disk', () => [diskCid(), arg('new_size', schemas().SizeMiB)] as const, async (b, [cid, size]) => {
    await impl(b, 'resizeDisk', 'resize_disk')(cid, size);
    return null;
  }),
  update_disk: method(
    'update_disk',
    () => [diskCid(), arg('new_size', schemas().SizeMiB), arg('cloud_properties', schemas().CloudProperties)] as const,
    (b, [cid, size, cp]) => impl(b, 'updateDisk', 'update_disk')(cid, size, cp),
  ),
  set_disk_metadata: method(
    'set_disk_metadata',
    () => [diskCid(), arg('metadata', schemas().Metadata)] as const,
    async (b, [cid, md]) => {
      await impl(b, 'setDiskMetadata', 'set_disk_metadata')(cid, md);
      return null;
    },
  ),
  snapshot_disk: method(
    'snapshot_disk',
    () => [diskCid(), arg('metadata', schemas().Metadata)] as const,
    (b, [cid, md]) => impl(b, 'snapshotDisk', 'snapshot_disk')(cid, md),
  ),
  delete_snapshot: method('delete_snapshot', () => [arg('snapshot_cid', schemas().Cid)] as const, async (b, [cid]) => {
    await impl(b, 'deleteSnapshot', 'delete_snapshot')(cid);
    return null;
  }),

  create_network: method(
    'create_network',
    () => [arg('network_definition', schemas().NetworkDefinition)] as const,
    async (b, [def]) => {
      const n = await impl(b, 'createNetwork', 'create_network')(def);
      return [n.id, { range: n.range, gateway: n.gateway, reserved: n.reserved }, n.cloudProperties];
    },
  ),
  delete_network: method('delete_network', () => [arg('network_id', schemas().Cid)] as const, async (b, [id]) => {
    await impl(b, 'deleteNetwork', 'delete_network')(id);
    return null;
  }),
};

export const METHOD_NAMES = Object.keys(METHODS);
