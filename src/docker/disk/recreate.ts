/**
 * The fallback where no live attach is possible: the container is recreated with the disk
 * mounted (or without it). Everything that matters survives: the ephemeral volume, the static
 * IPs and every network, the settings file, the agent's update_settings.json and the DNS records;
 * a missing disk or VM is found out before anything is touched.
 *
 * Deleting the old container and creating the new one cannot be one step, so the whole plan (the
 * new container's spec, its networks, the agent files, the new settings) is journaled first. A
 * call that dies in between leaves the journal; the next call that touches the VM (has_vm
 * included) finishes the recreate or rolls it back (see completeRecreate), so the VM is never lost.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { failpoint } from '../../runtime/failpoint';
import type { DockerContext } from '../context';
import { isNotFound, seg } from '../engine/client';
import type { ContainerCreateBody, ContainerInspect, MountSpec } from '../engine/types';
import { L } from '../labels';
import { readContainerFile, writeContainerFiles } from '../settings/archive';
import type { AgentSettings } from '../settings/agent-settings';
import { deliveryOf, generationOf } from '../settings/store';
import { writeInPlace } from '../settings/file';
import { placeOf, type VmPlace } from '../state/place';
import { refreshObservedNetworks } from '../vm/lifecycle';

/** Files the agent keeps in the root filesystem, which a new container would not have. */
const PRESERVED = ['/var/vcap/bosh/update_settings.json', '/var/vcap/instance/dns/records.json'];

export interface MountChange {
  add?: MountSpec;
  removeTarget?: string;
}

export interface RecreateJournal {
  vm_cid: string;
  old_id: string;
  name: string;
  body: ContainerCreateBody;
  others: Array<{ network: string; endpoint: Record<string, unknown> }>;
  preserved: Array<{ path: string; content: string }>;
  /** The settings the new container starts with, stamped; where they go depends on the delivery. */
  settings: string;
  delivery: 'bind' | 'archive';
  bound_settings?: string;
  started: string;
}

function endpointFor(ep: { IPAMConfig?: unknown; Aliases?: string[] | null }, oldId: string): Record<string, unknown> {
  const aliases = (ep.Aliases ?? []).filter((a) => !oldId.startsWith(a));
  return { ...(ep.IPAMConfig ? { IPAMConfig: ep.IPAMConfig } : {}), ...(aliases.length ? { Aliases: aliases } : {}) };
}

export function readJournal(file: string): RecreateJournal | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RecreateJournal;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function writeJournal(file: string, j: RecreateJournal): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(j));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file); // whole or not at all
}

/** The plan: everything needed to make the new container without the old one. */
async function plan(ctx: DockerContext, place: VmPlace, c: ContainerInspect, change: MountChange, settings: AgentSettings, previous: AgentSettings): Promise<RecreateJournal> {
  const preserved: RecreateJournal['preserved'] = [];
  for (const p of PRESERVED) {
    const content = await readContainerFile(ctx, c.Id, p);
    if (content) preserved.push({ path: p, content: content.toString('base64') });
  }
  const hostConfig = { ...c.HostConfig } as ContainerInspect['HostConfig'];
  const mounts = ((hostConfig.Mounts ?? []) as MountSpec[]).filter((m) => m.Target !== change.removeTarget && m.Target !== change.add?.Target);
  if (change.add) mounts.push(change.add);
  hostConfig.Mounts = mounts;
  const networks = c.NetworkSettings.Networks ?? {};
  const primary = hostConfig.NetworkMode ?? Object.keys(networks)[0] ?? 'bridge';
  return {
    vm_cid: place.cid,
    old_id: c.Id,
    name: c.Name.replace(/^\//, ''),
    body: {
      ...c.Config,
      HostConfig: hostConfig,
      NetworkingConfig: networks[primary] ? { EndpointsConfig: { [primary]: endpointFor(networks[primary] as never, c.Id) } } : undefined,
    } as ContainerCreateBody,
    others: Object.entries(networks)
      .filter(([name]) => name !== primary)
      .map(([network, ep]) => ({ network, endpoint: endpointFor(ep as never, c.Id) })),
    preserved,
    settings: JSON.stringify({ ...settings, bosh_cpi: { generation: generationOf(previous) + 1 } }),
    delivery: deliveryOf(c),
    bound_settings: place.boundSettings,
    started: new Date().toISOString(),
  };
}

/** Makes and starts the journal's container (the old one is gone); returns its ID. */
async function build(ctx: DockerContext, j: RecreateJournal): Promise<string> {
  const created = await ctx.engine.request<{ Id: string }>('POST', '/containers/create', { query: { name: j.name }, body: j.body });
  await failpoint('recreate.after-create');
  for (const o of j.others) {
    await ctx.engine.request('POST', `/networks/${seg(o.network)}/connect`, { body: { Container: created.Id, EndpointConfig: o.endpoint } });
  }
  const files: Array<{ path: string; content: Buffer; mode: number }> = j.preserved.map((p) => ({ path: p.path, content: Buffer.from(p.content, 'base64'), mode: 0o644 }));
  if (j.delivery === 'archive') files.push(...ctxSettingsFiles(ctx, j.settings));
  if (files.length) await writeContainerFiles(ctx, created.Id, files);
  if (j.delivery === 'bind' && j.bound_settings) writeInPlace(j.bound_settings, j.settings);
  await failpoint('recreate.before-start');
  await ctx.engine.request('POST', `/containers/${seg(created.Id)}/start`);
  return created.Id;
}

function ctxSettingsFiles(ctx: DockerContext, json: string): Array<{ path: string; content: Buffer; mode: number }> {
  return ctx.config.agent_settings_paths.map((p) => ({ path: p, content: Buffer.from(json), mode: 0o600 }));
}

/**
 * Recreates the VM's container with its mounts changed and its settings edited; returns the new
 * container's ID. The caller holds the VM's lock.
 */
export async function recreateWithMounts(ctx: DockerContext, place: VmPlace, c: ContainerInspect, change: MountChange, previous: AgentSettings, settings: AgentSettings): Promise<string> {
  const j = await plan(ctx, place, c, change, settings, previous);
  // The journal is the engine's: the container this call deletes lives there.
  const file = ctx.state.journalFile(await ctx.engineId(), place.cid);
  writeJournal(file, j);
  await failpoint('recreate.after-journal');
  await ctx.engine.request('POST', `/containers/${seg(c.Id)}/stop`, { query: { t: ctx.config.stop_timeout_seconds }, extraMs: ctx.config.stop_timeout_seconds * 1000 }).catch(() => undefined);
  // Named volumes (the ephemeral disk, persistent disks) stay; only the container goes.
  await ctx.engine.request('DELETE', `/containers/${seg(c.Id)}`, { query: { force: true, v: false } });
  await failpoint('recreate.after-delete');
  const id = await build(ctx, j);
  fs.rmSync(file, { force: true });
  ctx.log.info('recreated the VM container to change its disks', { cid: place.cid, preserved: j.preserved.map((p) => p.path) });
  return id;
}

/** The containers carrying the VM's CID label (the old and perhaps a half-made new one). */
async function vmContainers(ctx: DockerContext, cid: string): Promise<ContainerInspect[]> {
  const list = await ctx.engine.request<Array<{ Id: string }>>('GET', '/containers/json', { query: { all: true, filters: { label: [`${L.vmCid}=${cid}`] } } });
  const out: ContainerInspect[] = [];
  for (const s of list) {
    try {
      out.push(await ctx.engine.request<ContainerInspect>('GET', `/containers/${seg(s.Id)}/json`));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  return out;
}

/**
 * Finishes or rolls back an interrupted recreate: the old container still there means nothing was
 * lost yet (it is started again and the journal dropped: the attach or detach did not happen);
 * otherwise the new container is made from the journal (a half-made one is replaced) unless it
 * already runs. The caller holds the VM's lock. Returns what the engine has for the VM now.
 */
export async function completeRecreate(ctx: DockerContext, file: string, j: RecreateJournal): Promise<'rolled-back' | 'completed'> {
  const found = await vmContainers(ctx, j.vm_cid);
  const old = found.find((c) => c.Id === j.old_id);
  if (old) {
    for (const other of found.filter((c) => c.Id !== j.old_id)) {
      await ctx.engine.request('DELETE', `/containers/${seg(other.Id)}`, { query: { force: true, v: false } });
    }
    if (!old.State?.Running) await ctx.engine.request('POST', `/containers/${seg(old.Id)}/start`);
    fs.rmSync(file, { force: true });
    ctx.log.warn('rolled back an interrupted recreate of a VM container: the old container is kept', { cid: j.vm_cid });
    return 'rolled-back';
  }
  const running = found.find((c) => c.State?.Running);
  if (!running) {
    for (const half of found) await ctx.engine.request('DELETE', `/containers/${seg(half.Id)}`, { query: { force: true, v: false } });
    const id = await build(ctx, j);
    // Dynamic addresses may differ in the new container: the settings take what it got.
    const made = await ctx.engine.request<ContainerInspect>('GET', `/containers/${seg(id)}/json`);
    await refreshObservedNetworks(ctx, placeOf(ctx.state, j.vm_cid, made, ctx.config.agent_settings_paths[0] as string), made);
  }
  fs.rmSync(file, { force: true });
  ctx.log.warn('completed an interrupted recreate of a VM container', { cid: j.vm_cid });
  return 'completed';
}

/** The disks a recreate-mode container has mounted: volume mounts at /warden-cpi-dev/<cid>. */
export function recreateAttachments(c: ContainerInspect, devPath: string): string[] {
  return ((c.HostConfig.Mounts ?? []) as MountSpec[])
    .filter((m) => m.Type === 'volume' && typeof m.Target === 'string' && m.Target.startsWith(`${devPath}/`))
    .map((m) => (m.Target as string).slice(devPath.length + 1));
}
