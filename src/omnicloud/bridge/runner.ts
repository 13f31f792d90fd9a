/**
 * What every BOSH method of the bridge does to run its action: the configured provider loaded,
 * the method map resolved, manifest keys checked against what the provider lets a manifest set,
 * validation and initialization on demand, the action run, its result read for the truth, and
 * engine errors turned into BOSH errors.
 */
import * as path from 'node:path';
import type { CallContext } from '../../cpi/backend';
import type { DiskHint } from '../../cpi/schemas';
import { withLocks } from '../../docker/state/locks';
import { CloudError, CpiError } from '../../rpc/errors';
import { Engine } from '../engine';
import { isOmniError, ProviderLoadError } from '../errors';
import { Preflight } from '../preflight';
import { providerProblems } from '../provider/issues';
import { loadNamedProvider } from '../provider/load';
import type { Provider } from '../provider/model';
import type { MethodMapEntry } from '../provider/schema';
import { isSecretName } from '../secrets';
import { lookup } from '../template/values';
import { toBoshError, type Ids } from './errors';
import { methodMapProblems, resolveMethodMap, type ResolvedEntry } from './methods';
import * as P from './params';
import { shippedProvidersDir } from './paths';
import { existence, render, reportedFailure } from './results';

type Params = Record<string, unknown>;

export type Ran = { result: unknown; params: Params; entry: ResolvedEntry };

/** cloud_properties keys the bridge itself reads (create_vm's ports become port_flags, exposed_ports, port_bindings). */
const BRIDGE_READS: Readonly<Record<string, readonly string[]>> = { create_vm: ['ports'] };

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

const notFound = (e: unknown) => isOmniError(e) && e.code === 'ResourceNotFoundError';

export class Runner {
  readonly provider: Provider;
  private readonly map: Map<string, ResolvedEntry>;
  private readonly engine: Engine;
  private readonly preflight: Preflight;
  private readonly common: Params;

  constructor(readonly call: CallContext) {
    const cfg = call.config.omnicloud;
    const { provider, providers } = loadProvider(call);
    this.provider = provider;
    this.map = resolveMethodMap(provider.type, new Set(provider.actions.keys()), provider.methodMap, configMethodMap(call, provider));
    for (const w of provider.warnings) call.log.debug(`omnicloud: ${provider.name}: ${w}`);
    this.engine = new Engine(providers, {
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
    this.preflight = new Preflight(this.engine, { dir: path.join(call.config.state_dir, 'omnicloud', 'cache'), seconds: cfg.cache_seconds });
    this.common = P.common(call);
  }

  has(method: string): boolean {
    return this.map.has(method);
  }

  entry(method: string): ResolvedEntry | undefined {
    return this.map.get(method);
  }

  /** Manifest keys the action cannot take: a CloudError naming the first (secrets can never be set). */
  private checkManifest(method: string, action: string, manifest: Params): void {
    const { provider } = this;
    const a = provider.actions.get(action);
    for (const k of Object.keys(manifest)) {
      if (a?.overridable.has(k) && !isSecretName(k, new Set([...provider.secretParams, ...a.secretParams]))) {
        if (!a.used.has(k) && !(BRIDGE_READS[method] ?? []).includes(k)) this.call.log.warn(`${method}: cloud_properties key '${k}' is accepted but not used by ${provider.name}.${action}`);
        continue;
      }
      throw new CloudError(`${method}: cloud_properties key '${k}' cannot be set from a manifest: provider '${provider.name}' does not declare it overridable for ${action} (the operator sets it in omnicloud.settings)`);
    }
  }

  /** Runs the method's action; engine errors come out as they are, a reported failure as a CloudError. */
  async runRaw(method: string, params: Params, manifest: Params = {}): Promise<Ran> {
    const cfg = this.call.config.omnicloud;
    const entry = this.map.get(method) as ResolvedEntry;
    this.checkManifest(method, entry.action, manifest);
    const all: Params = { ...this.common, ...params };
    for (const [k, t] of Object.entries(entry.params)) all[k] = render(t, { params: all, steps: {} }, `omnicloud.method_map.${method}.params.${k}`);
    if (cfg.validate) await this.preflight.validate(this.provider);
    const init = cfg.initialize ? await this.preflight.initialize(this.provider) : {};
    const r = await this.engine.run(this.provider.name, entry.action, all, { initOutputs: init, manifest });
    const failed = reportedFailure(r.result);
    if (failed !== undefined) throw new CloudError(`${method}: ${this.provider.name}.${entry.action} reported success: false: ${failed}`);
    return { result: r.result, params: all, entry };
  }

  /** Runs the method's action; engine errors come out as BOSH errors. */
  async run(method: string, params: Params, ids: Ids, manifest: Params = {}): Promise<Ran> {
    try {
      return await this.runRaw(method, params, manifest);
    } catch (e) {
      throw toBoshError(e, method, ids);
    }
  }

  /** A delete (of a stemcell, snapshot or network) whose target is already gone has done its job. */
  async runIdempotent(method: string, params: Params): Promise<void> {
    try {
      await this.runRaw(method, params);
    } catch (e) {
      if (notFound(e)) {
        this.call.log.info(`omnicloud: ${method}: already gone`);
        return;
      }
      throw toBoshError(e, method, {});
    }
  }

  /** has_vm/has_disk: an answer from evidence, or an error; ResourceNotFoundError is `false`. */
  async exists(method: string, params: Params, ids: Ids): Promise<boolean> {
    let r: Ran;
    try {
      r = await this.runRaw(method, params);
    } catch (e) {
      if (notFound(e)) return false;
      throw toBoshError(e, method, ids);
    }
    const answer = existence(r.result);
    if (answer === undefined) throw new CloudError(`${method}: ${this.provider.name}.${r.entry.action} gave no evidence either way (expected true/false, exists/found/present, or an object with an id), got ${JSON.stringify(r.result)?.slice(0, 80)}`);
    return answer;
  }

  cidOf(method: string, r: Ran): string {
    const { entry, result, params } = r;
    let v: unknown;
    if (entry.cid.from === 'param') v = params[entry.cid.name];
    else if (typeof result === 'string' || typeof result === 'number') v = result;
    else v = lookup({ params: {}, steps: {}, result }, `result.${entry.cid.name}`);
    if ((typeof v === 'string' && v.trim() !== '') || typeof v === 'number') return String(v).trim();
    throw new CloudError(`${method}: ${this.provider.name}.${entry.action} gave no ${entry.cid.from === 'param' ? `parameter '${entry.cid.name}'` : `'${entry.cid.name}' in its result`} to use as the CID`);
  }

  /** After a failed create_vm: delete_vm with the name the bridge chose, so nothing half-made is left. */
  async cleanupVm(params: Params): Promise<void> {
    const entry = this.map.get('create_vm');
    if (!entry?.cleanup || !this.map.has('delete_vm') || entry.cid.from !== 'param') return;
    const cid = params[entry.cid.name];
    if (typeof cid !== 'string') return;
    try {
      await this.runRaw('delete_vm', P.vmParams(cid));
      this.call.log.warn(`omnicloud: create_vm failed; removed what it had created of ${cid}`);
    } catch {
      /* nothing was created, or it is already gone */
    }
  }

  /**
   * Attach and detach change the VM's agent settings (read, modify, write): concurrent calls on one
   * VM (the Director runs up to 32 CPI processes) take the VM's cross-process lock, or one disk's
   * entry would be lost.
   */
  settingsLock<T>(vm: string, work: () => Promise<T>): Promise<T> {
    const { config } = this.call;
    return withLocks({ root: path.join(config.state_dir, 'omnicloud'), waitMs: config.lock_timeout_seconds * 1000 }, [['vm', vm]], work);
  }

  /**
   * The agent settings' disks.persistent after attach (the hint) and detach (removed), for
   * providers that deliver settings through a file they can read and rewrite
   * (read_agent_settings / write_agent_settings): the agent reads its disks from there.
   */
  async updateSettings(vm: string, disk: string, hint: DiskHint | undefined): Promise<void> {
    const { provider, engine } = this;
    if (!provider.actions.has('read_agent_settings') || !provider.actions.has('write_agent_settings')) return;
    try {
      const base = { ...this.common, ...P.vmParams(vm) };
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
}
