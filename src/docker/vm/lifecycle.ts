/** delete_vm, has_vm, reboot_vm and set_vm_metadata. */
import * as fs from 'node:fs';
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
import { SettingsStore, type Delivery } from '../settings/store';
import { collectDeletedStemcell } from '../stemcell/delete';
import { findVm, inspectContainer } from './find';
import { settleAll } from '../../runtime/settle';

/** Work other parts of the backend do around a VM's deletion (persistent disks). */
export interface VmDeleteHook {
  beforeDelete(cid: string, container: ContainerInspect): Promise<void>;
  afterDelete?(cid: string): Promise<void>;
}

async function ignoreMissing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!isNotFound(e) && !(isEngineError(e) && e.statusCode === 304)) throw e;
  }
}

/**
 * Stops the container with a grace period and removes it with its ephemeral volume, settings
 * directory and implicitly created networks. Persistent disks survive. A missing VM is success:
 * callers repeat delete_vm, and a create_vm killed part-way leaves pieces to sweep up.
 */
export async function deleteVm(ctx: DockerContext, cid: string, hooks: VmDeleteHook[] = []): Promise<void> {
  if (!isDockerName(cid)) return;
  const c = await findVm(ctx, cid);
  if (c) {
    for (const h of hooks) await h.beforeDelete(cid, c);
    await ignoreMissing(ctx.engine.request('POST', `/containers/${seg(c.Id)}/stop`, { query: { t: ctx.config.stop_timeout_seconds }, extraMs: ctx.config.stop_timeout_seconds * 1000 }));
    await ignoreMissing(ctx.engine.request('DELETE', `/containers/${seg(c.Id)}`, { query: { force: true, v: true } }));
  }
  // With the container gone, its volume, networks and stemcell image are independent: one round
  // trip each, side by side.
  await settleAll([
    removeVmStorage(ctx, cid, c, hooks),
    ...Object.keys(c?.NetworkSettings?.Networks ?? {}).map((net) => removeIfUnused(ctx, net)),
    ...(c ? [collectDeletedStemcell(ctx, c.Image)] : []),
  ]);
  if (c) ctx.log.debug('deleted VM', { cid });
}

/** Host mounts (disks, a sized ephemeral disk) go first: the volume and directory under them next. */
async function removeVmStorage(ctx: DockerContext, cid: string, c: ContainerInspect | undefined, hooks: VmDeleteHook[]): Promise<void> {
  for (const h of hooks) await h.afterDelete?.(cid);
  const volume = c?.Config?.Labels?.[L.ephemeralVolume] ?? ephemeralVolumeName(cid);
  await ignoreMissing(ctx.engine.request('DELETE', `/volumes/${seg(volume)}`, { query: { force: true } }));
  ctx.state.removeVmDir(cid);
}

async function mustFind(ctx: DockerContext, cid: string): Promise<ContainerInspect> {
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
export async function refreshObservedNetworks(ctx: DockerContext, cid: string, containerId: string, labels: Record<string, string>): Promise<void> {
  const store = new SettingsStore(ctx);
  const settings = await store.read(cid, containerId);
  const map = networkMapOf(labels);
  const plans = Object.entries(settings.networks).map(([boshName, n]) => {
    const dynamic = n.type === 'dynamic';
    const spec = dynamic ? { ...n, ip: undefined, netmask: undefined, gateway: undefined } : n;
    return { boshName, type: dynamic ? 'dynamic' : 'manual', docker: map[boshName] ?? '', ip: dynamic ? undefined : n.ip, spec } as unknown as NetworkPlan;
  });
  const observed = agentNetworks(observedNetworks(plans, await inspectContainer(ctx, containerId)));
  const changed = Object.entries(observed).some(([name, n]) => {
    const before = settings.networks[name] as Record<string, unknown> | undefined;
    return before?.['ip'] !== n.ip || before?.['mac'] !== (n as Record<string, unknown>)['mac'];
  });
  if (!changed) return;
  const delivery = (labels[L.settingsDelivery] as Delivery | undefined) ?? 'bind';
  await store.write(cid, { ...settings, networks: { ...settings.networks, ...observed } }, delivery, containerId);
}

/** A real restart, with the grace period; the settings file stays in place. */
export async function rebootVm(ctx: DockerContext, cid: string): Promise<void> {
  const c = await mustFind(ctx, cid);
  await ctx.engine.request('POST', `/containers/${seg(c.Id)}/restart`, { query: { t: ctx.config.stop_timeout_seconds }, extraMs: ctx.config.stop_timeout_seconds * 1000 });
  await refreshObservedNetworks(ctx, cid, c.Id, c.Config?.Labels ?? {});
  ctx.log.debug('rebooted VM', { cid });
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
export async function setVmMetadata(ctx: DockerContext, cid: string, md: Metadata): Promise<void> {
  const c = await mustFind(ctx, cid);
  ctx.state.createVmDir(cid);
  fs.writeFileSync(ctx.state.metadataFile(cid), JSON.stringify(md, null, 2) + '\n', { mode: 0o600 });
  const name = readableName(cid, md);
  if (name && c.Name !== `/${name}`) {
    await ctx.engine.request('POST', `/containers/${seg(c.Id)}/rename`, { query: { name } });
  }
  ctx.log.debug('set VM metadata', { cid, name: name ?? c.Name.replace(/^\//, '') });
}
