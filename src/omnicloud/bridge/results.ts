/**
 * Reading a provider's results as BOSH needs them, from evidence only: whether something exists,
 * a reported failure, the addresses a VM got, a network's subnet, a VM's disks, a disk hint.
 * Anything these cannot read is an error, never a guess (a bridge that guesses lies to BOSH).
 */
import type { DiskHint, Networks } from '../../cpi/schemas';
import { CloudError, VMCreationFailed } from '../../rpc/errors';
import { parseTemplate } from '../template/placeholders';
import { renderSegments, type Scope } from '../template/values';
import type { ResolvedEntry } from './methods';

export function render(template: string, scope: Scope, where: string): string {
  return renderSegments(parseTemplate(template), scope, where);
}

/**
 * The provider's answer to "does it exist?", from evidence only: `true`/`false`, a boolean
 * `exists`/`found`/`present`, or an object naming the thing (a non-empty `id` or `name`, what an
 * inspect returns). Anything else (empty output, `[]`, an unrelated object) is no answer.
 */
export function existence(result: unknown): boolean | undefined {
  if (result === true || result === 'true') return true;
  if (result === false || result === 'false') return false;
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return undefined;
  const o = result as Record<string, unknown>;
  for (const k of ['exists', 'found', 'present']) if (typeof o[k] === 'boolean') return o[k] as boolean;
  for (const k of ['id', 'name']) if (typeof o[k] === 'string' && (o[k] as string).trim() !== '') return true;
  return undefined;
}

/** A result that says it failed: `success: false` (with the provider's message, if any). */
export function reportedFailure(result: unknown): string | undefined {
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return undefined;
  const o = result as Record<string, unknown>;
  if (o['success'] !== false && o['ok'] !== false) return undefined;
  const why = ['message', 'error', 'reason', 'status'].map((k) => o[k]).find((v) => typeof v === 'string' && v.trim() !== '');
  return typeof why === 'string' ? why : 'no reason given';
}

/**
 * The networks create_vm was given, with the addresses the provider reports it assigned: from the
 * result's `networks` (`{<name>: {ip}}`), or for a single network its `ip_address`/`ip`. A network
 * the provider reports no address for, or a static IP it did not assign, fails create_vm: BOSH
 * would otherwise wait for an agent at an address nobody gave the VM.
 */
export function assignedNetworks(networks: Networks, result: unknown, action: string): Networks {
  const o = (result !== null && typeof result === 'object' ? result : {}) as Record<string, unknown>;
  const reported = (o['networks'] !== null && typeof o['networks'] === 'object' ? o['networks'] : {}) as Record<string, Record<string, unknown> | undefined>;
  const names = Object.keys(networks);
  // One BOSH network and one reported (keyed by the provider's name for it, as docker inspect does).
  const entries = Object.values(reported);
  const only = names.length === 1 && entries.length === 1 ? entries[0] : undefined;
  const field = (r: Record<string, unknown> | undefined, keys: string[]) => keys.map((k) => r?.[k]).find((v): v is string => typeof v === 'string' && v !== '');
  const single = names.length === 1 ? field(o, ['ip_address', 'ip']) : undefined;
  const out: Networks = {};
  for (const name of names) {
    const want = networks[name] as Networks[string];
    const entry = reported[name] ?? only;
    const got = field(entry, ['ip', 'IPAddress', 'ip_address']) ?? single;
    if (got === undefined) throw new VMCreationFailed(`create_vm: ${action} reported no address for network '${name}'`, false);
    if (want.type === 'manual' && want.ip && want.ip !== got) throw new VMCreationFailed(`create_vm: ${action} assigned ${got} on network '${name}', not the requested ${want.ip}`, false);
    const mac = field(entry, ['mac', 'MacAddress']);
    out[name] = { ...want, ip: got, ...(mac ? { mac } : {}) };
  }
  return out;
}

/** create_network's subnet as the provider reports it: range, gateway and reserved must all be in the result. */
export function networkShape(result: unknown, action: string): { range: string; gateway: string; reserved: string[] } {
  const o = (result !== null && typeof result === 'object' ? result : {}) as Record<string, unknown>;
  const range = o['range'] ?? o['subnet'];
  const gateway = o['gateway'];
  const reserved = o['reserved'];
  if (typeof range !== 'string' || typeof gateway !== 'string' || !Array.isArray(reserved) || !reserved.every((r) => typeof r === 'string')) {
    throw new CloudError(`create_network: ${action} did not report the network's range, gateway and reserved list (strings; reserved an array), got ${JSON.stringify(result)?.slice(0, 120)}`);
  }
  return { range, gateway, reserved };
}

/** The disk CIDs of a get_disks result, or undefined when the result is not a list of disks. */
export function diskList(result: unknown): string[] | undefined {
  let list: unknown = result;
  if (list !== null && typeof list === 'object' && !Array.isArray(list)) list = (list as Record<string, unknown>)['disks'] ?? (list as Record<string, unknown>)['volumes'];
  if (!Array.isArray(list)) return undefined;
  const ids = list.map((x) => (typeof x === 'string' ? x : x && typeof x === 'object' ? ((x as Record<string, unknown>)['id'] ?? (x as Record<string, unknown>)['disk_id'] ?? (x as Record<string, unknown>)['name']) : undefined));
  return ids.every((x): x is string => typeof x === 'string' && x !== '') ? ids : undefined;
}

/** attach_disk's hint: the method map's template, else the result's hint/path/device, else the disk's id. */
export function hintOf(entry: ResolvedEntry, result: unknown, params: Record<string, unknown>, disk: string): DiskHint {
  if (entry.hint !== undefined) return render(entry.hint, { params, steps: {}, result }, 'omnicloud.method_map.attach_disk.hint');
  if (typeof result === 'string' && result.trim()) return result.trim();
  const o = (result !== null && typeof result === 'object' ? result : {}) as Record<string, unknown>;
  for (const k of ['hint', 'path', 'device']) if (typeof o[k] === 'string' && o[k]) return o[k] as string;
  return { volume_id: disk };
}
