/**
 * The BOSH bridge: a CpiBackend whose methods run provider actions. Only mapped methods exist on
 * the backend object, so the dispatcher answers NotImplemented for the others — never a success
 * that did nothing.
 */
import * as path from 'node:path';
import type { CallContext, CpiBackend, CreateVmInput } from '../../cpi/backend';
import type { DiskHint, Networks } from '../../cpi/schemas';
import { withLocks } from '../../docker/state/locks';
import { CloudError, CpiError, VMCreationFailed } from '../../rpc/errors';
import { Engine } from '../engine';
import { isOmniError, ProviderLoadError } from '../errors';
import { Preflight } from '../preflight';
import { isSecretName } from '../secrets';
import { providerProblems } from '../provider/issues';
import { loadNamedProvider } from '../provider/load';
import type { Provider } from '../provider/model';
import type { MethodMapEntry } from '../provider/schema';
import { parseTemplate } from '../template/placeholders';
import { lookup, renderSegments, type Scope } from '../template/values';
import { toBoshError, type Ids } from './errors';
import { methodMapProblems, resolveMethodMap, type ResolvedEntry } from './methods';
import * as P from './params';
import { shippedProvidersDir } from './paths';

type Params = Record<string, unknown>;

/** cloud_properties keys the bridge itself reads (create_vm's ports become port_flags, exposed_ports, port_bindings). */
const BRIDGE_READS: Readonly<Record<string, readonly string[]>> = { create_vm: ['ports'] };

function render(template: string, scope: Scope, where: string): string {
  return renderSegments(parseTemplate(template), scope, where);
}

/**
 * The provider's answer to "does it exist?", from evidence only: `true`/`false`, a boolean
 * `exists`/`found`/`present`, or an object naming the thing (a non-empty `id` or `name`, what an
 * inspect returns). Anything else (empty output, `[]`, an unrelated object) is no answer.
 */
function existence(result: unknown): boolean | undefined {
  if (result === true || result === 'true') return true;
  if (result === false || result === 'false') return false;
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return undefined;
  const o = result as Record<string, unknown>;
  for (const k of ['exists', 'found', 'present']) if (typeof o[k] === 'boolean') return o[k] as boolean;
  for (const k of ['id', 'name']) if (typeof o[k] === 'string' && (o[k] as string).trim() !== '') return true;
  return undefined;
}

/** A result that says it failed: `success: false` (with the provider's message, if any). */
function reportedFailure(result: unknown): string | undefined {
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return undefined;
  const o = result as Record<string, unknown>;
  if (o['success'] !== false && o['ok'] !== false) return undefined;
  const why = ['message', 'error', 'reason', 'status'].map((k) => o[k]).find((v) => typeof v === 'string' && v.trim() !== '');
  return typeof why === 'string' ? why : 'no reason given';
}

function loadProvider(call: CallContext): { provider: Provider; providers: Map<string, Provider> } {
  const cfg = call.config.omnicloud;
  if (!cfg.provider) throw new CpiError('backend omnicloud needs omnicloud.provider: the name of the provider that serves BOSH methods');
  const dir = cfg.providers_dir ?? shippedProvidersDir();
  let loaded;
  try {
    loaded = loadNamedProvider(dir, cfg.provider, { cacheDir: path.join(call.config.state_dir, 'omnicloud', 'cache') });
  } catch (e) {
    if (e instanceof ProviderLoadError) throw new CpiError(`omnicloud.providers_dir ${e.message}`);
    throw e;
  }
  for (const err of loaded.errors) call.log.warn(`omnicloud: provider file not loaded: ${err.message}`);
  const provider = loaded.providers.get(cfg.provider);
  if (!provider) {
    const problems = loaded.errors.length ? ` (files that failed to load: ${loaded.errors.map((e) => e.message).join(' | ')})` : '';
    throw new CpiError(`omnicloud provider '${cfg.provider}' is not in ${dir} (loaded: ${[...loaded.providers.keys()].join(', ') || 'none'})${problems}`);
  }
  return { provider, providers: loaded.providers };
}

function configMethodMap(call: CallContext, provider: Provider): Record<string, MethodMapEntry> {
  const raw = call.config.omnicloud.method_map;
  // The provider schema (zod) only for a configuration that maps methods itself.
  if (raw && typeof raw === 'object' && Object.keys(raw).length === 0) return {};
  const { MethodMap } = require('../provider/schema') as typeof import('../provider/schema');
  const parsed = MethodMap.safeParse(raw);
  if (!parsed.success) throw new CpiError(`invalid configuration: ${providerProblems(parsed.error.issues, raw).map((p) => `omnicloud.method_map.${p}`).join('; ')}`);
  const [e] = methodMapProblems(parsed.data, (a) => provider.actions.has(a));
  if (e) {
    const what = e.kind === 'method' ? `'${e.method}' is not a BOSH CPI method` : `provider '${provider.name}' has no action '${e.action}'`;
    throw new CpiError(`invalid configuration: omnicloud.method_map.${e.method}: ${what}`);
  }
  return parsed.data;
}

export function createBackend(call: CallContext): CpiBackend {
  const cfg = call.config.omnicloud;
  const { provider, providers } = loadProvider(call);
  const map = resolveMethodMap(provider.type, new Set(provider.actions.keys()), provider.methodMap, configMethodMap(call, provider));
  for (const w of provider.warnings) call.log.debug(`omnicloud: ${provider.name}: ${w}`);
  const engine = new Engine(providers, {
    log: call.log,
    timeoutSeconds: cfg.timeout_seconds,
    connectTimeoutSeconds: cfg.connect_timeout_seconds,
    maxOutputBytes: cfg.max_output_bytes,
    maxErrorBytes: cfg.max_error_bytes,
    settings: cfg.settings,
    env: cfg.env,
    passEnv: cfg.pass_env,
    processEnv: process.env,
  });
  const preflight = new Preflight(engine, { dir: path.join(call.config.state_dir, 'omnicloud', 'cache'), seconds: cfg.cache_seconds });
  const common = P.common(call);

  type Ran = { result: unknown; params: Params; entry: ResolvedEntry };

  /** Manifest keys the action cannot take: a CloudError naming the first (secrets can never be set). */
  function checkManifest(method: string, action: string, manifest: Params): void {
    const a = provider.actions.get(action);
    for (const k of Object.keys(manifest)) {
      if (a?.overridable.has(k) && !isSecretName(k, new Set([...provider.secretParams, ...a.secretParams]))) {
        if (!a.used.has(k) && !(BRIDGE_READS[method] ?? []).includes(k)) call.log.warn(`${method}: cloud_properties key '${k}' is accepted but not used by ${provider.name}.${action}`);
        continue;
      }
      throw new CloudError(`${method}: cloud_properties key '${k}' cannot be set from a manifest: provider '${provider.name}' does not declare it overridable for ${action} (the operator sets it in omnicloud.settings)`);
    }
  }

  /** Runs the method's action; engine errors come out as they are, a reported failure as a CloudError. */
  async function runRaw(method: string, params: Params, manifest: Params = {}): Promise<Ran> {
    const entry = map.get(method) as ResolvedEntry;
    checkManifest(method, entry.action, manifest);
    const all: Params = { ...common, ...params };
    for (const [k, t] of Object.entries(entry.params)) all[k] = render(t, { params: all, steps: {} }, `omnicloud.method_map.${method}.params.${k}`);
    if (cfg.validate) await preflight.validate(provider);
    const init = cfg.initialize ? await preflight.initialize(provider) : {};
    const r = await engine.run(provider.name, entry.action, all, { initOutputs: init, manifest });
    const failed = reportedFailure(r.result);
    if (failed !== undefined) throw new CloudError(`${method}: ${provider.name}.${entry.action} reported success: false: ${failed}`);
    return { result: r.result, params: all, entry };
  }

  /** Runs the method's action; engine errors come out as BOSH errors. */
  async function run(method: string, params: Params, ids: Ids, manifest: Params = {}): Promise<Ran> {
    try {
      return await runRaw(method, params, manifest);
    } catch (e) {
      throw toBoshError(e, method, ids);
    }
  }

  const notFound = (e: unknown) => isOmniError(e) && e.code === 'ResourceNotFoundError';

  function cidOf(method: string, entry: ResolvedEntry, result: unknown, params: Params): string {
    let v: unknown;
    if (entry.cid.from === 'param') v = params[entry.cid.name];
    else if (typeof result === 'string' || typeof result === 'number') v = result;
    else v = lookup({ params: {}, steps: {}, result }, `result.${entry.cid.name}`);
    if ((typeof v === 'string' && v.trim() !== '') || typeof v === 'number') return String(v).trim();
    throw new CloudError(`${method}: ${provider.name}.${entry.action} gave no ${entry.cid.from === 'param' ? `parameter '${entry.cid.name}'` : `'${entry.cid.name}' in its result`} to use as the CID`);
  }

  /** A delete (of a stemcell, snapshot or network) whose target is already gone has done its job. */
  async function runIdempotent(method: string, params: Params): Promise<void> {
    try {
      await runRaw(method, params);
    } catch (e) {
      if (notFound(e)) {
        call.log.info(`omnicloud: ${method}: already gone`);
        return;
      }
      throw toBoshError(e, method, {});
    }
  }

  const b: { -readonly [K in keyof CpiBackend]: CpiBackend[K] } = { name: `omnicloud:${provider.name}` };
  const has = (m: string) => map.has(m);

  if (has('create_stemcell')) {
    b.createStemcell = async (imagePath, cp) => {
      const r = await run('create_stemcell', P.createStemcellParams(imagePath, cp), {});
      return cidOf('create_stemcell', r.entry, r.result, r.params);
    };
  }
  if (has('delete_stemcell')) {
    b.deleteStemcell = (cid) => runIdempotent('delete_stemcell', { stemcell_cid: cid, image: cid, id: cid, name: cid });
  }
  if (has('create_vm')) {
    b.createVm = async (input: CreateVmInput) => {
      const params = P.createVmParams(call, input);
      try {
        const r = await run('create_vm', params, {}, P.manifestParams(input.cloudProperties));
        const cid = cidOf('create_vm', r.entry, r.result, r.params);
        return { cid, networks: assignedNetworks(input.networks, r.result, `${provider.name}.${r.entry.action}`) };
      } catch (e) {
        await cleanupVm(params);
        throw e instanceof CloudError && !(e instanceof VMCreationFailed) ? new VMCreationFailed(e.message, false) : e;
      }
    };
  }
  async function cleanupVm(params: Params): Promise<void> {
    const entry = map.get('create_vm');
    if (!entry?.cleanup || !map.has('delete_vm') || entry.cid.from !== 'param') return;
    const cid = params[entry.cid.name];
    if (typeof cid !== 'string') return;
    try {
      await runRaw('delete_vm', P.vmParams(cid));
      call.log.warn(`omnicloud: create_vm failed; removed what it had created of ${cid}`);
    } catch {
      /* nothing was created, or it is already gone */
    }
  }
  if (has('delete_vm')) b.deleteVm = async (cid) => void (await run('delete_vm', P.vmParams(cid), { vm: cid }));
  if (has('has_vm')) b.hasVm = (cid) => exists('has_vm', P.vmParams(cid), { vm: cid });
  if (has('reboot_vm')) b.rebootVm = async (cid) => void (await run('reboot_vm', P.vmParams(cid), { vm: cid }));
  if (has('set_vm_metadata')) b.setVmMetadata = async (cid, md) => void (await run('set_vm_metadata', { ...P.vmParams(cid), ...P.metadataParams(md) }, { vm: cid }));
  if (has('calculate_vm_cloud_properties')) {
    b.calculateVmCloudProperties = async (res) => {
      const r = await run('calculate_vm_cloud_properties', { cpu: res.cpu, ram: res.ram, ram_mb: res.ram, ephemeral_disk_size: res.ephemeral_disk_size }, {});
      if (r.result === null || typeof r.result !== 'object' || Array.isArray(r.result)) throw new CloudError(`calculate_vm_cloud_properties: ${provider.name}.${r.entry.action} did not return an object`);
      return r.result as Record<string, unknown>;
    };
  }
  if (has('current_vm_id')) {
    b.currentVmId = async () => {
      const r = await run('current_vm_id', {}, {});
      return cidOf('current_vm_id', { ...r.entry, cid: { from: 'result', name: 'id' } }, r.result, r.params);
    };
  }
  if (has('create_disk')) {
    b.createDisk = async (size, cp, vm) => {
      const r = await run('create_disk', P.createDiskParams(size, cp, vm), {}, P.manifestParams(cp));
      return cidOf('create_disk', r.entry, r.result, r.params);
    };
  }
  if (has('delete_disk')) b.deleteDisk = async (cid) => void (await run('delete_disk', P.diskParams(cid), { disk: cid }));
  /**
   * Attach and detach change the VM's agent settings (read, modify, write): concurrent calls on one
   * VM (the Director runs up to 32 CPI processes) take the VM's cross-process lock, or one disk's
   * entry would be lost.
   */
  const settingsLock = <T>(vm: string, work: () => Promise<T>): Promise<T> =>
    withLocks({ root: path.join(call.config.state_dir, 'omnicloud'), waitMs: call.config.lock_timeout_seconds * 1000 }, [['vm', vm]], work);
  if (has('attach_disk')) {
    b.attachDisk = (vm, disk) =>
      settingsLock(vm, async () => {
        const r = await run('attach_disk', P.attachParams(vm, disk), { vm, disk });
        const hint = hintOf(r.entry, r.result, r.params, disk);
        await updateSettings(vm, disk, hint);
        return hint;
      });
  }
  if (has('detach_disk')) {
    b.detachDisk = (vm, disk) =>
      settingsLock(vm, async () => {
        await run('detach_disk', P.attachParams(vm, disk), { vm, disk });
        await updateSettings(vm, disk, undefined);
      });
  }

  /**
   * The agent settings' disks.persistent after attach (the hint) and detach (removed), for
   * providers that deliver settings through a file they can read and rewrite
   * (read_agent_settings / write_agent_settings): the agent reads its disks from there.
   */
  async function updateSettings(vm: string, disk: string, hint: DiskHint | undefined): Promise<void> {
    if (!provider.actions.has('read_agent_settings') || !provider.actions.has('write_agent_settings')) return;
    try {
      const base = { ...common, ...P.vmParams(vm) };
      const doc = (await engine.run(provider.name, 'read_agent_settings', base)).result as Record<string, unknown>;
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new CloudError(`${provider.name}.read_agent_settings did not return the settings document`);
      const disks = (doc['disks'] ?? {}) as Record<string, unknown>;
      const persistent = { ...((disks['persistent'] ?? {}) as Record<string, unknown>) };
      if (hint === undefined) delete persistent[disk];
      else persistent[disk] = hint;
      const next = { ...doc, disks: { ...disks, persistent } };
      await engine.run(provider.name, 'write_agent_settings', { ...base, agent_settings: next, agent_settings_json: JSON.stringify(next) });
    } catch (e) {
      throw toBoshError(e, hint === undefined ? 'detach_disk' : 'attach_disk', { vm, disk });
    }
  }
  if (has('has_disk')) b.hasDisk = (cid) => exists('has_disk', P.diskParams(cid), { disk: cid });
  if (has('get_disks')) {
    b.getDisks = async (vm) => {
      const r = await run('get_disks', P.vmParams(vm), { vm });
      const list = diskList(r.result);
      if (!list) throw new CloudError(`get_disks: ${provider.name}.${r.entry.action} returned no list of disks (an array of strings or of objects with id), got ${JSON.stringify(r.result)?.slice(0, 80)}`);
      return list;
    };
  }
  if (has('resize_disk')) {
    b.resizeDisk = async (cid, size) => {
      await run('resize_disk', P.resizeDiskParams(cid, size), { disk: cid });
    };
  }
  if (has('update_disk')) {
    b.updateDisk = async (cid, size, cp) => {
      const r = await run('update_disk', P.updateDiskParams(cid, size, cp), { disk: cid }, P.manifestParams(cp));
      const id = r.result !== null && typeof r.result === 'object' ? (r.result as Record<string, unknown>)['id'] : undefined;
      return typeof id === 'string' && id !== cid ? id : null;
    };
  }
  if (has('set_disk_metadata')) b.setDiskMetadata = async (cid, md) => void (await run('set_disk_metadata', { ...P.diskParams(cid), ...P.metadataParams(md) }, { disk: cid }));
  if (has('snapshot_disk')) {
    b.snapshotDisk = async (cid, md) => {
      const name = P.freshName('snap');
      const r = await run('snapshot_disk', { ...P.diskParams(cid), ...P.metadataParams(md), name, snapshot_name: name }, { disk: cid });
      return cidOf('snapshot_disk', r.entry, r.result, r.params);
    };
  }
  if (has('delete_snapshot')) b.deleteSnapshot = (cid) => runIdempotent('delete_snapshot', { snapshot_cid: cid, snapshot_id: cid, id: cid, name: cid });
  if (has('create_network')) {
    b.createNetwork = async (def) => {
      const r = await run('create_network', P.createNetworkParams(def), {}, P.manifestParams(def.cloud_properties ?? {}));
      const id = cidOf('create_network', r.entry, r.result, r.params);
      return { id, ...networkShape(r.result, `${provider.name}.${r.entry.action}`), cloudProperties: def.cloud_properties ?? {} };
    };
  }
  if (has('delete_network')) b.deleteNetwork = (id) => runIdempotent('delete_network', { network_id: id, network: id, id, name: id });

  async function exists(method: string, params: Params, ids: Ids): Promise<boolean> {
    let r: Ran;
    try {
      r = await runRaw(method, params);
    } catch (e) {
      if (notFound(e)) return false;
      throw toBoshError(e, method, ids);
    }
    const answer = existence(r.result);
    if (answer === undefined) throw new CloudError(`${method}: ${provider.name}.${r.entry.action} gave no evidence either way (expected true/false, exists/found/present, or an object with an id), got ${JSON.stringify(r.result)?.slice(0, 80)}`);
    return answer;
  }

  function hintOf(entry: ResolvedEntry, result: unknown, params: Params, disk: string): DiskHint {
    if (entry.hint !== undefined) return render(entry.hint, { params, steps: {}, result }, 'omnicloud.method_map.attach_disk.hint');
    if (typeof result === 'string' && result.trim()) return result.trim();
    const o = (result !== null && typeof result === 'object' ? result : {}) as Record<string, unknown>;
    for (const k of ['hint', 'path', 'device']) if (typeof o[k] === 'string' && o[k]) return o[k] as string;
    return { volume_id: disk };
  }

  return b;
}

/**
 * The networks create_vm was given, with the addresses the provider reports it assigned: from the
 * result's `networks` (`{<name>: {ip}}`), or for a single network its `ip_address`/`ip`. A network
 * the provider reports no address for, or a static IP it did not assign, fails create_vm: BOSH
 * would otherwise wait for an agent at an address nobody gave the VM.
 */
function assignedNetworks(networks: Networks, result: unknown, action: string): Networks {
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
function networkShape(result: unknown, action: string): { range: string; gateway: string; reserved: string[] } {
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
function diskList(result: unknown): string[] | undefined {
  let list: unknown = result;
  if (list !== null && typeof list === 'object' && !Array.isArray(list)) list = (list as Record<string, unknown>)['disks'] ?? (list as Record<string, unknown>)['volumes'];
  if (!Array.isArray(list)) return undefined;
  const ids = list.map((x) => (typeof x === 'string' ? x : x && typeof x === 'object' ? ((x as Record<string, unknown>)['id'] ?? (x as Record<string, unknown>)['disk_id'] ?? (x as Record<string, unknown>)['name']) : undefined));
  return ids.every((x): x is string => typeof x === 'string' && x !== '') ? ids : undefined;
}
