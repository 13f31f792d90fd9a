/**
 * Which provider action serves which BOSH method. Defaults depend on the provider's type (a
 * container provider speaks of containers and volumes, the others of workers and disks); the first
 * candidate the provider defines wins. The provider file's `bosh.method_map` overrides the
 * defaults, the configuration's `omnicloud.method_map` overrides both, and `null` unmaps a method.
 * A method without an action is NotImplemented.
 */
import type { MethodMapEntry } from '../provider/schema';

export const BOSH_METHODS: readonly string[] = [
  'create_stemcell',
  'delete_stemcell',
  'create_vm',
  'delete_vm',
  'has_vm',
  'reboot_vm',
  'set_vm_metadata',
  'calculate_vm_cloud_properties',
  'current_vm_id',
  'create_disk',
  'delete_disk',
  'attach_disk',
  'detach_disk',
  'has_disk',
  'get_disks',
  'resize_disk',
  'update_disk',
  'set_disk_metadata',
  'snapshot_disk',
  'delete_snapshot',
  'create_network',
  'delete_network',
];

/** What is wrong with a method map: a key that is no BOSH method, or an action that does not exist. */
export type MethodMapProblem = { method: string; kind: 'method' } | { method: string; kind: 'action'; action: string };

/** The problems of a method map, in entry order (for each entry, its method before its action). */
export function methodMapProblems(map: Readonly<Record<string, MethodMapEntry>>, hasAction: (action: string) => boolean): MethodMapProblem[] {
  const out: MethodMapProblem[] = [];
  for (const [method, entry] of Object.entries(map)) {
    if (!BOSH_METHODS.includes(method)) out.push({ method, kind: 'method' });
    const action = entry === null ? null : typeof entry === 'string' ? entry : entry.action;
    if (action !== null && !hasAction(action)) out.push({ method, kind: 'action', action });
  }
  return out;
}

type Candidates = Readonly<Record<string, readonly string[]>>;

const WORKER_FIRST: Candidates = {
  create_stemcell: ['create_stemcell', 'import_image'],
  delete_stemcell: ['delete_stemcell', 'delete_image'],
  create_vm: ['create_worker', 'create_container'],
  delete_vm: ['delete_worker', 'terminate_worker', 'delete_container'],
  has_vm: ['has_worker', 'get_worker', 'inspect_container'],
  reboot_vm: ['reboot_worker', 'restart_worker', 'restart_container'],
  set_vm_metadata: ['set_vm_metadata', 'set_worker_metadata', 'update_worker'],
  create_disk: ['create_disk', 'create_volume'],
  delete_disk: ['delete_disk', 'delete_volume'],
  attach_disk: ['attach_disk', 'attach_volume'],
  detach_disk: ['detach_disk', 'detach_volume'],
  has_disk: ['has_disk', 'has_volume', 'get_disk', 'get_volume', 'inspect_volume'],
  get_disks: ['get_disks', 'list_worker_disks', 'list_worker_volumes'],
  resize_disk: ['resize_disk', 'resize_volume'],
  set_disk_metadata: ['set_disk_metadata', 'update_disk'],
  snapshot_disk: ['snapshot_disk', 'snapshot_volume'],
  delete_snapshot: ['delete_snapshot'],
  create_network: ['create_network'],
  delete_network: ['delete_network'],
};

const CONTAINER_FIRST: Candidates = {
  ...WORKER_FIRST,
  create_vm: ['create_container', 'create_worker'],
  delete_vm: ['delete_container', 'delete_worker', 'terminate_worker'],
  has_vm: ['inspect_container', 'has_worker', 'get_worker'],
  reboot_vm: ['restart_container', 'reboot_worker', 'restart_worker'],
  create_disk: ['create_volume', 'create_disk'],
  delete_disk: ['delete_volume', 'delete_disk'],
  attach_disk: ['attach_volume', 'attach_disk'],
  detach_disk: ['detach_volume', 'detach_disk'],
  has_disk: ['inspect_volume', 'has_volume', 'has_disk', 'get_volume', 'get_disk'],
};

export interface ResolvedEntry {
  action: string;
  params: Readonly<Record<string, string>>;
  /** Where a new CID comes from. */
  cid: { from: 'result' | 'param'; name: string };
  hint?: string;
  cleanup: boolean;
}

function defaultCandidates(type: string): Candidates {
  return type === 'container' ? CONTAINER_FIRST : WORKER_FIRST;
}

/**
 * The effective entry of every BOSH method: defaults by type, then the provider file's map, then
 * the configuration's. Methods that end up without an action are left out.
 */
export function resolveMethodMap(
  type: string,
  actions: ReadonlySet<string>,
  fromProvider: Readonly<Record<string, MethodMapEntry>>,
  fromConfig: Readonly<Record<string, MethodMapEntry>>,
): Map<string, ResolvedEntry> {
  const out = new Map<string, ResolvedEntry>();
  const candidates = defaultCandidates(type);
  for (const method of BOSH_METHODS) {
    let entry: MethodMapEntry | undefined;
    if (Object.prototype.hasOwnProperty.call(fromConfig, method)) entry = fromConfig[method];
    else if (Object.prototype.hasOwnProperty.call(fromProvider, method)) entry = fromProvider[method];
    else {
      const found = (candidates[method] ?? []).find((a) => actions.has(a));
      entry = found ?? null;
    }
    if (entry === null || entry === undefined) continue;
    const e = typeof entry === 'string' ? { action: entry } : entry;
    const byName = type === 'container';
    const [from, name] = (e.cid ?? (byName ? 'param:name' : 'result:id')).split(/:(.*)/s) as ['result' | 'param', string];
    const resolved: ResolvedEntry = {
      action: e.action,
      params: e.params ?? {},
      cid: { from, name },
      cleanup: e.cleanup ?? (method === 'create_vm' && from === 'param'),
    };
    if (e.hint !== undefined) resolved.hint = e.hint;
    out.set(method, resolved);
  }
  return out;
}
