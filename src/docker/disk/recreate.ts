/**
 * The fallback where no live attach is possible: the container is recreated with the disk
 * mounted (or without it). Unlike the Go CPI's version, everything that matters survives: the
 * ephemeral volume, the static IPs and every network, the settings file, the agent's
 * update_settings.json and the DNS records; and a disk that is missing, or a VM that is, is found
 * out before anything is touched.
 */
import type { DockerContext } from '../context';
import { seg } from '../engine/client';
import type { ContainerInspect, MountSpec } from '../engine/types';
import { readContainerFile, writeContainerFiles } from '../settings/archive';
import { SettingsStore } from '../settings/store';
import { L } from '../labels';
import { refreshObservedNetworks } from '../vm/lifecycle';

/** Files the agent keeps in the root filesystem, which a new container would not have. */
const PRESERVED = ['/var/vcap/bosh/update_settings.json', '/var/vcap/instance/dns/records.json'];

export interface MountChange {
  add?: MountSpec;
  removeTarget?: string;
}

function endpointFor(ep: { IPAMConfig?: unknown; Aliases?: string[] | null }, oldId: string) {
  const aliases = (ep.Aliases ?? []).filter((a) => !oldId.startsWith(a));
  return { ...(ep.IPAMConfig ? { IPAMConfig: ep.IPAMConfig } : {}), ...(aliases.length ? { Aliases: aliases } : {}) };
}

/** Recreates the VM's container with its mounts changed; returns the new container's ID. */
export async function recreateWithMounts(ctx: DockerContext, cid: string, c: ContainerInspect, change: MountChange): Promise<string> {
  const preserved: Array<{ path: string; content: Buffer }> = [];
  for (const path of PRESERVED) {
    const content = await readContainerFile(ctx, c.Id, path);
    if (content) preserved.push({ path, content });
  }
  const labels = c.Config.Labels ?? {};
  const archive = labels[L.settingsDelivery] === 'archive';
  const settings = archive ? await new SettingsStore(ctx).read(cid, c.Id) : undefined;

  const hostConfig = { ...c.HostConfig } as ContainerInspect['HostConfig'];
  const mounts = ((hostConfig.Mounts ?? []) as MountSpec[]).filter((m) => m.Target !== change.removeTarget && m.Target !== change.add?.Target);
  if (change.add) mounts.push(change.add);
  hostConfig.Mounts = mounts;
  const networks = c.NetworkSettings.Networks ?? {};
  const primary = hostConfig.NetworkMode ?? Object.keys(networks)[0] ?? 'bridge';
  const others = Object.entries(networks).filter(([name]) => name !== primary);

  await ctx.engine.request('POST', `/containers/${seg(c.Id)}/stop`, { query: { t: ctx.config.stop_timeout_seconds }, extraMs: ctx.config.stop_timeout_seconds * 1000 }).catch(() => undefined);
  // Named volumes (the ephemeral disk, persistent disks) stay; only the container goes.
  await ctx.engine.request('DELETE', `/containers/${seg(c.Id)}`, { query: { force: true, v: false } });

  const body = {
    ...c.Config,
    HostConfig: hostConfig,
    NetworkingConfig: networks[primary] ? { EndpointsConfig: { [primary]: endpointFor(networks[primary] as never, c.Id) } } : undefined,
  };
  const created = await ctx.engine.request<{ Id: string }>('POST', '/containers/create', { query: { name: c.Name.replace(/^\//, '') }, body });
  for (const [name, ep] of others) {
    await ctx.engine.request('POST', `/networks/${seg(name)}/connect`, { body: { Container: created.Id, EndpointConfig: endpointFor(ep as never, c.Id) } });
  }
  if (preserved.length) await writeContainerFiles(ctx, created.Id, preserved.map((p) => ({ ...p, mode: 0o644 })));
  if (settings) await new SettingsStore(ctx).write(cid, settings, 'archive', created.Id);
  await ctx.engine.request('POST', `/containers/${seg(created.Id)}/start`);
  await refreshObservedNetworks(ctx, cid, created.Id, labels);
  ctx.log.info('recreated the VM container to change its disks', { cid, preserved: preserved.map((p) => p.path) });
  return created.Id;
}

/** The disks a recreate-mode container has mounted: volume mounts at /warden-cpi-dev/<cid>. */
export function recreateAttachments(c: ContainerInspect, devPath: string): string[] {
  return ((c.HostConfig.Mounts ?? []) as MountSpec[])
    .filter((m) => m.Type === 'volume' && typeof m.Target === 'string' && m.Target.startsWith(`${devPath}/`))
    .map((m) => (m.Target as string).slice(devPath.length + 1));
}

