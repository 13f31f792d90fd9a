/** delete_vm, has_vm, reboot_vm and set_vm_metadata. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Metadata } from '../../cpi/schemas';
import { VMNotFound } from '../../rpc/errors';
import { ephemeralVolumeName, isDockerName } from '../cids';
import type { DockerContext } from '../context';
import { isEngineError, isNotFound, seg } from '../engine/client';
import type { ContainerInspect } from '../engine/types';
import { L } from '../labels';
import { removeIfUnused } from '../network/docker-networks';
import type { NetworkPlan } from '../network/plan';
import { agentNetworks, observedNetworks } from '../network/results';
import { SettingsStore } from '../settings/store';
import { placeOf, type VmPlace } from '../state/place';
import { collectDeletedStemcell } from '../stemcell/delete';
import { findVm, inspectContainer, settleJournal } from './find';
import { stopForDelete } from './stop';
import { settleAll } from '../../runtime/settle';
import { loadChunk } from '../../runtime/chunks';

/** Work other parts of the backend do around a VM's deletion (persistent disks). */
export interface VmDeleteHook {
  beforeDelete(cid: string, container: ContainerInspect): Promise<void>;
  /** With the container gone; `dirs`: the VM's record and disk directories. */
  afterDelete?(cid: string, dirs: Array<string | undefined>): Promise<void>;
}

async function ignoreMissing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!isNotFound(e) && !(isEngineError(e) && e.statusCode === 304)) throw e;
  }
}

/**
 * Stops the container (see stop.ts) and removes it with its ephemeral volume, record
 * directory and implicitly created networks. Persistent disks survive. A missing VM is success:
 * callers repeat delete_vm, and a create_vm killed part-way leaves pieces to sweep up. Records
 * are removed only for a VM found on this engine, or this engine's own (another AZ's engine may
 * hold a VM of that CID: its records stay).
 */
export function deleteVm(ctx: DockerContext, cid: string, hooks: VmDeleteHook[] = []): Promise<void> {
  if (!isDockerName(cid)) return Promise.resolve();
  return ctx.locked([['vm', cid]], async () => {
    await settleJournal(ctx, cid);
    const c = await findVm(ctx, cid);
    if (c) {
      for (const h of hooks) await h.beforeDelete(cid, c);
      await stopForDelete(ctx, c);
      await ignoreMissing(ctx.engine.request('DELETE', `/containers/${seg(c.Id)}`, { query: { force: true, v: true } }));
    }
    const place = c ? placeOf(ctx.state, cid, c, ctx.config.agent_settings_paths[0] as string) : undefined;
    // With the container gone, its volume, networks and stemcell image are independent: one round
    // trip each, side by side.
    await settleAll([
      removeVmStorage(ctx, cid, c, place, hooks),
      ...Object.keys(c?.NetworkSettings?.Networks ?? {}).map((net) => removeIfUnused(ctx, net)),
      ...(c ? [collectDeletedStemcell(ctx, c.Image)] : []),
    ]);
    if (c) ctx.log.debug('deleted VM', { cid });
  });
}

/**
 * Host mounts (disks, a sized ephemeral disk) go, and the ephemeral volume; the records under the
 * mounts after them. A sized ephemeral disk's image lives in the volume and is mounted from
 * there: then the mounts go first; otherwise both at once.
 */
async function removeVmStorage(ctx: DockerContext, cid: string, c: ContainerInspect | undefined, place: VmPlace | undefined, hooks: VmDeleteHook[]): Promise<void> {
  // A VM not found here: only this engine's records of that CID may go.
  const engineId = place ? place.engineId : await ctx.engineId();
  const dir = place?.dir ?? ctx.state.vmDir(engineId as string, cid);
  const volume = c?.Config?.Labels?.[L.ephemeralVolume] ?? ephemeralVolumeName(cid);
  const removeVolume = () => ignoreMissing(ctx.engine.request('DELETE', `/volumes/${seg(volume)}`, { query: { force: true } }));
  const releaseMounts = async () => {
    for (const h of hooks) await h.afterDelete?.(cid, [dir, place?.diskDir]);
  };
  const sized = !c || c.Mounts?.some((m) => m.Destination === '/var/vcap/data' && m.Type === 'bind');
  if (sized) {
    await releaseMounts();
    await removeVolume();
  } else await settleAll([releaseMounts(), removeVolume()]);
  fs.rmSync(dir, { recursive: true, force: true });
  if (engineId) ctx.state.markCreated(engineId, cid);
}

async function mustFind(ctx: DockerContext, cid: string): Promise<ContainerInspect> {
  await settleJournal(ctx, cid);
  const c = await findVm(ctx, cid);
  if (!c) throw new VMNotFound(cid);
  return c;
}

/** The BOSH network → Docker network map create_vm recorded on the container. */
function networkMapOf(labels: Record<string, string>): Record<string, string> {
  try {
    return JSON.parse(labels[L.networks] ?? '{}') as Record<string, string>;
  } catch {
    return {};
  }
}

/**
 * A restarted container can get new dynamic addresses, a recreated one new MACs too: the
 * settings take what the engine reports now. Static addresses are the manifest's and stay.
 */
export async function refreshObservedNetworks(ctx: DockerContext, place: VmPlace, c: ContainerInspect): Promise<void> {
  const store = new SettingsStore(ctx);
  const settings = await store.read(place, c);
  const map = networkMapOf(c.Config?.Labels ?? {});
  const plans = Object.entries(settings.networks).map(([boshName, n]) => {
    const dynamic = n.type === 'dynamic';
    const spec = dynamic ? { ...n, ip: undefined, netmask: undefined, gateway: undefined } : n;
    return { boshName, type: dynamic ? 'dynamic' : 'manual', docker: map[boshName] ?? '', ip: dynamic ? undefined : n.ip, spec } as unknown as NetworkPlan;
  });
  const observed = agentNetworks(observedNetworks(plans, c));
  const changed = Object.entries(observed).some(([name, n]) => {
    const before = settings.networks[name] as Record<string, unknown> | undefined;
    return before?.['ip'] !== n.ip || before?.['mac'] !== (n as Record<string, unknown>)['mac'];
  });
  if (changed) await store.write(place, c, settings, { ...settings, networks: { ...settings.networks, ...observed } });
}

/** A real restart, with the grace period; the settings file stays in place. */
export function rebootVm(ctx: DockerContext, cid: string): Promise<void> {
  return ctx.locked([['vm', cid]], async () => {
    const c = await mustFind(ctx, cid);
    const place = placeOf(ctx.state, cid, c, ctx.config.agent_settings_paths[0] as string);
    // A bound settings file that vanished from the host would fail the restart: bring it back first.
    const settings = await new SettingsStore(ctx).read(place, c);
    // Remote-mode disks lost with their host's restart are mounted again before the VM starts.
    if (c.Config.Labels?.[L.diskMode] === 'remote') await loadChunk('disks').remountRemote(ctx, c.Image, cid, Object.keys(settings.disks.persistent));
    await ctx.engine.request('POST', `/containers/${seg(c.Id)}/restart`, { query: { t: ctx.config.stop_timeout_seconds }, extraMs: ctx.config.stop_timeout_seconds * 1000 });
    const after = await inspectContainer(ctx, c.Id);
    if (after) await refreshObservedNetworks(ctx, place, after);
    ctx.log.debug('rebooted VM', { cid });
  });
}

/** A container name operators can read in `docker ps`, still holding the CID. */
export function readableName(cid: string, md: Metadata): string | undefined {
  const str = (k: string) => (typeof md[k] === 'string' || typeof md[k] === 'number' ? String(md[k]) : undefined);
  const group = str('instance_group') ?? str('job') ?? (str('compiling') ? `compile-${str('compiling')}` : undefined);
  const parts = [str('deployment'), group, str('index')].filter((x): x is string => !!x);
  if (parts.length === 0) return undefined;
  const readable = parts
    .join('_')
    .replace(/[^a-zA-Z0-9_.-]+/g, '-')
    .replace(/^[^a-zA-Z0-9]+/, '')
    .slice(0, 120);
  return readable ? `${readable}_${cid}` : undefined;
}

/**
 * Labels are fixed when a container is created, so metadata goes where it can change: the
 * container is renamed to `<deployment>_<instance_group>_<index>_<cid>` (visible in `docker ps`;
 * the CPI finds it by its CID label), and the whole metadata is kept in the VM's state directory
 * (metadata.json).
 */
export function setVmMetadata(ctx: DockerContext, cid: string, md: Metadata): Promise<void> {
  return ctx.locked([['vm', cid]], async () => {
    const c = await mustFind(ctx, cid);
    const place = placeOf(ctx.state, cid, c, ctx.config.agent_settings_paths[0] as string);
    fs.mkdirSync(place.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(place.dir, 'metadata.json'), JSON.stringify(md, null, 2) + '\n', { mode: 0o600 });
    const name = readableName(cid, md);
    if (name && c.Name !== `/${name}`) {
      await ctx.engine.request('POST', `/containers/${seg(c.Id)}/rename`, { query: { name } });
    }
    ctx.log.debug('set VM metadata', { cid, name: name ?? c.Name.replace(/^\//, '') });
  });
}
