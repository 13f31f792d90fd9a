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

const STEMCELL_FORMATS = ['warden-tar', 'general-tar', 'docker-light'] as const;
const CPI_API_VERSION = 2;

interface MethodEntry {
  /** false for info and ping, which answer from the core without configuration or backend. */
  readonly usesBackend: boolean;
  run(raw: readonly unknown[], call?: CallContext, backend?: () => CpiBackend): Promise<unknown>;
}

/** Makes the entry of the method whose wire name is its key in the table below. */
type Define = (wire: string) => MethodEntry;

type Operation = Exclude<keyof CpiBackend, 'name'>;

function local(result: () => unknown): Define {
  return () => ({ usesBackend: false, run: async () => result() });
}

/**
 * A method the backend implements as `op`; `run` gets that implementation (bound to the backend)
 * and the parsed arguments. A backend without `op` answers NotImplemented.
 */
function method<O extends Operation, const A extends readonly ArgSpec[]>(
  op: O,
  specs: () => A,
  run: (f: NonNullable<CpiBackend[O]>, args: ParsedArgs<A>, call: CallContext, b: CpiBackend) => Promise<unknown>,
): Define {
  return (wire) => ({
    usesBackend: true,
    run: async (raw, call, backend) => {
      if (!call || !backend) throw new Error(`${wire} needs a configured backend`);
      // Arguments are checked before the backend (and its heavy modules) is loaded.
      const args = parseArguments(wire, specs(), raw);
      const b = backend();
      const f = b[op];
      if (typeof f !== 'function') throw new NotImplemented(`Must call implemented method: '${wire}' is not implemented by the ${b.name} backend`);
      return run((f as (...a: unknown[]) => unknown).bind(b) as NonNullable<CpiBackend[O]>, args, call, b);
    },
  });
}

/** The result of a method that returns nothing. */
async function none(done: Promise<unknown>): Promise<null> {
  await done;
  return null;
}

const isV2 = (call: CallContext) => call.apiVersion >= 2;

const vmCid = () => arg('vm_cid', schemas().Cid);
const diskCid = () => arg('disk_cid', schemas().Cid);

const DEFINITIONS: Readonly<Record<string, Define>> = {
  info: local(() => ({ stemcell_formats: [...STEMCELL_FORMATS], api_version: CPI_API_VERSION })),
  ping: local(() => 'pong'),

  create_stemcell: method(
    'createStemcell',
    () => [arg('image_path', schemas().FilePath), arg('cloud_properties', schemas().CloudProperties), optionalArg('env', schemas().ObjectOrNull)] as const,
    (f, [imagePath, cp, env]) => f(imagePath, cp, env ?? {}),
  ),
  delete_stemcell: method('deleteStemcell', () => [arg('stemcell_cid', schemas().Cid)] as const, (f, [cid]) => none(f(cid))),

  create_vm: method(
    'createVm',
    () =>
      [
        arg('agent_id', schemas().Cid),
        arg('stemcell_cid', schemas().Cid),
        arg('cloud_properties', schemas().CloudProperties),
        arg('networks', schemas().Networks),
        arg('disk_cids', schemas().DiskCids),
        arg('env', schemas().Env),
      ] as const,
    async (f, [agentId, stemcellCid, cloudProperties, networks, diskCids, env], call) => {
      const vm = await f({ agentId, stemcellCid, cloudProperties, networks, diskCids, env });
      return isV2(call) ? [vm.cid, vm.networks] : vm.cid;
    },
  ),
  delete_vm: method('deleteVm', () => [vmCid()] as const, (f, [cid]) => none(f(cid))),
  has_vm: method('hasVm', () => [vmCid()] as const, (f, [cid]) => f(cid)),
  reboot_vm: method('rebootVm', () => [vmCid()] as const, (f, [cid]) => none(f(cid))),
  set_vm_metadata: method('setVmMetadata', () => [vmCid(), arg('metadata', schemas().Metadata)] as const, (f, [cid, md]) => none(f(cid, md))),
  calculate_vm_cloud_properties: method('calculateVmCloudProperties', () => [arg('vm_resources', schemas().VmResources)] as const, (f, [resources]) => f(resources)),
  current_vm_id: method('currentVmId', () => [] as const, (f) => f()),

  create_disk: method(
    'createDisk',
    () => [arg('size', schemas().SizeMiB), arg('cloud_properties', schemas().CloudProperties), optionalArg('vm_cid', schemas().NullableCid)] as const,
    (f, [size, cp, vm]) => f(size, cp, vm ?? null),
  ),
  delete_disk: method('deleteDisk', () => [diskCid()] as const, (f, [cid]) => none(f(cid))),
  attach_disk: method('attachDisk', () => [vmCid(), diskCid()] as const, async (f, [vm, disk], call, b) => {
    const hint = await f(vm, disk);
    if (!isV2(call)) return null;
    // The Director rejects a null or empty hint (AttachDiskResponseError).
    if (hint === '' || (typeof hint === 'object' && Object.keys(hint).length === 0)) {
      throw new CpiError(`attach_disk: the ${b.name} backend returned an empty disk hint for ${disk}`);
    }
    return hint;
  }),
  detach_disk: method('detachDisk', () => [vmCid(), diskCid()] as const, (f, [vm, disk]) => none(f(vm, disk))),
  has_disk: method('hasDisk', () => [diskCid()] as const, (f, [cid]) => f(cid)),
  get_disks: method('getDisks', () => [vmCid()] as const, (f, [cid]) => f(cid)),
  resize_disk: method('resizeDisk', () => [diskCid(), arg('new_size', schemas().SizeMiB)] as const, (f, [cid, size]) => none(f(cid, size))),
  update_disk: method(
    'updateDisk',
    () => [diskCid(), arg('new_size', schemas().SizeMiB), arg('cloud_properties', schemas().CloudProperties)] as const,
    (f, [cid, size, cp]) => f(cid, size, cp),
  ),
  set_disk_metadata: method('setDiskMetadata', () => [diskCid(), arg('metadata', schemas().Metadata)] as const, (f, [cid, md]) => none(f(cid, md))),
  snapshot_disk: method('snapshotDisk', () => [diskCid(), arg('metadata', schemas().Metadata)] as const, (f, [cid, md]) => f(cid, md)),
  delete_snapshot: method('deleteSnapshot', () => [arg('snapshot_cid', schemas().Cid)] as const, (f, [cid]) => none(f(cid))),

  create_network: method('createNetwork', () => [arg('network_definition', schemas().NetworkDefinition)] as const, async (f, [def]) => {
    const n = await f(def);
    return [n.id, { range: n.range, gateway: n.gateway, reserved: n.reserved }, n.cloudProperties];
  }),
  delete_network: method('deleteNetwork', () => [arg('network_id', schemas().Cid)] as const, (f, [id]) => none(f(id))),
};

export const METHODS: Readonly<Record<string, MethodEntry>> = Object.fromEntries(Object.entries(DEFINITIONS).map(([wire, define]) => [wire, define(wire)]));

export const METHOD_NAMES = Object.keys(METHODS);
