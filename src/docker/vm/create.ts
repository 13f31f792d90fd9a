/**
 * create_vm: one container per VM, with its ephemeral volume at /var/vcap/data, the agent
 * settings file in place before start, networks joined and limits applied. Any failure removes
 * everything the call made (container, volume, state directory, networks it created) and
 * reports VMCreationFailed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CreateVmInput, CreateVmResult } from '../../cpi/backend';
import { VMCreationFailed } from '../../rpc/errors';
import { ephemeralVolumeName } from '../cids';
import { newVmCid } from '../new-cids';
import type { DockerContext } from '../context';
import { isEngineError, seg, type EngineError } from '../engine/client';
import type { ContainerCreateBody, ImageInspect, NetworkInspect, VolumeInspect } from '../engine/types';
import { L, tagLabels } from '../labels';
import { ensureNetwork, removeIfUnused } from '../network/docker-networks';
import { dnsServers, planNetworks, type NetworkPlan } from '../network/plan';
import { agentNetworks, observedNetworks, resultNetworks } from '../network/results';
import { buildAgentSettings } from '../settings/agent-settings';
import { SettingsStore, type Delivery } from '../settings/store';
import { initOf, inspectImage } from '../stemcell/resolve';
import { parseVmProperties, type VmProperties } from './cloud-properties';
import { containerSpec, endpointConfig } from './container-spec';
import { inspectContainer } from './find';
import { checkCapacity, resourceLimits } from './resources';
import { chooseStartMode, startConfig, type StartPlan } from './start-mode';
import { asCreationFailure, NetworkVanished, startFailure } from './start-errors';
import { Undo } from './undo';
import { settleAll } from '../../runtime/settle';
import { loopMount } from '../disk/host';
import { createImage, imagePath } from '../disk/image';
import { prepareDiskDir, releaseVmMounts, type DiskMode } from '../disk/vm-dir';

interface Prepared {
  props: VmProperties;
  plans: NetworkPlan[];
  image: ImageInspect;
  start: StartPlan;
  limits: ReturnType<typeof resourceLimits> & Record<string, unknown>;
  cgroupVersion: string | undefined;
}

/** Everything that can be checked before anything is created. */
async function prepare(ctx: DockerContext, input: CreateVmInput): Promise<Prepared> {
  const props = parseVmProperties(input.cloudProperties);
  const plans = planNetworks(input.networks);
  for (const w of [...props.warnings, ...plans.flatMap((p) => p.warnings)]) ctx.log.warn(w);
  const image = await inspectImage(ctx, input.stemcellCid);
  if (!image) throw new VMCreationFailed(`stemcell '${input.stemcellCid}' not found: no such image on the Docker engine`);
  const detected = await initOf(ctx, image);
  const start = chooseStartMode({
    detected,
    imageHasCommand: (image.Config?.Cmd?.length ?? 0) > 0 || (image.Config?.Entrypoint?.length ?? 0) > 0,
    configSystemd: ctx.config.start_containers_with_systemd,
    forceSystemd: props.systemd,
    stemcell: input.stemcellCid,
  });
  const limits = { ...props.hostConfig, ...resourceLimits(props) };
  // The engine's capacity and cgroup version matter only for limits and systemd: skip the call otherwise.
  const needInfo = start.mode === 'systemd' || (['NanoCpus', 'CpuQuota', 'Memory', 'PidsLimit'] as const).some((k) => limits[k] !== undefined);
  const info = needInfo ? await ctx.engineInfo() : undefined;
  if (info) checkCapacity(limits, props, info);
  return { props, plans, image, start, limits, cgroupVersion: info?.CgroupVersion };
}

function ipHolder(net: NetworkInspect, ip: string): string | undefined {
  for (const c of Object.values(net.Containers ?? {})) {
    const addrs = [c.IPv4Address, c.IPv6Address].map((a) => (a ?? '').split('/')[0]);
    if (addrs.includes(ip)) return c.Name;
  }
  return undefined;
}

async function createContainer(ctx: DockerContext, name: string, body: ContainerCreateBody): Promise<string> {
  const r = await ctx.engine.request<{ Id: string; Warnings?: string[] }>('POST', '/containers/create', { query: { name }, body });
  for (const w of r.Warnings ?? []) if (w) ctx.log.warn(`engine: ${w}`);
  return r.Id;
}

function bindSourceMissing(e: unknown): boolean {
  return isEngineError(e) && /bind source path does not exist/i.test(e.engineMessage);
}

/**
 * A sized ephemeral disk: an ext4 image in the VM's ephemeral volume, loop-mounted on the host
 * and bound at /var/vcap/data. Only where the CPI mounts on the Docker host itself; elsewhere
 * the size cannot be held, which the task log says.
 */
async function sizedEphemeral(ctx: DockerContext, cid: string, volumeDir: string, sizeMiB: number | undefined, mode: DiskMode): Promise<string | undefined> {
  if (!sizeMiB) return undefined;
  if (mode !== 'host' || !fs.existsSync(volumeDir)) {
    ctx.log.warn(`ephemeral_disk: ${sizeMiB} MiB is not enforced: that needs the CPI on the Docker host as root, so /var/vcap/data has the host's free space`);
    return undefined;
  }
  const image = imagePath(volumeDir);
  await createImage(image, sizeMiB);
  const mountPoint = path.join(ctx.state.vmDir(cid), 'ephemeral');
  await loopMount(image, mountPoint);
  return mountPoint;
}

/**
 * Resolves each planned network to a Docker network, creating it where the CPI may. An unnamed
 * manual network may map to an existing network of another name (same subnet).
 */
async function joinNetworks(ctx: DockerContext, cid: string, plans: NetworkPlan[], undo: Undo): Promise<void> {
  const createdNetworks: string[] = [];
  for (const plan of plans) {
    const n = await ensureNetwork(ctx, plan);
    plan.docker = n.name;
    if (n.created) {
      undo.push(`remove network ${n.name}`, () => removeIfUnused(ctx, n.id));
      createdNetworks.push(n.name);
      ctx.state.markCreating(cid, createdNetworks);
    }
    // A static IP a running container holds is refused before the container is made.
    const holder = plan.ip && ipHolder(n.network, plan.ip);
    if (holder) throw new VMCreationFailed(`ip ${plan.ip} of network '${plan.boshName}' is already used by container ${holder} on Docker network ${plan.docker}`);
  }
}

async function attempt(ctx: DockerContext, input: CreateVmInput, p: Prepared): Promise<CreateVmResult> {
  const cid = newVmCid();
  const undo = new Undo(ctx.log);
  const store = new SettingsStore(ctx);
  const privileged = p.props.privileged ?? ctx.config.privileged;
  try {
    ctx.state.createVmDir(cid);
    ctx.state.markCreating(cid);
    const settings = buildAgentSettings({ agentId: input.agentId, vmCid: cid, agent: ctx.config.agent, networks: agentNetworks(observedNetworks(p.plans, undefined)), env: input.env });
    await store.write(cid, settings, 'bind');

    // Networks and the ephemeral volume do not depend on each other: made side by side, each
    // registering its own undo as it succeeds.
    const plans = p.plans.map((x) => ({ ...x }));
    const volume = ephemeralVolumeName(cid);
    const [, created] = await settleAll([
      joinNetworks(ctx, cid, plans, undo),
      (async () => {
        const v = await ctx.engine.request<VolumeInspect>('POST', '/volumes/create', {
          body: { Name: volume, Driver: 'local', Labels: ctx.labels({ [L.kind]: 'ephemeral', [L.vmCid]: cid, ...(p.props.ephemeralDiskMiB ? { [L.sizeMiB]: String(p.props.ephemeralDiskMiB) } : {}) }) },
        });
        undo.push(`remove volume ${volume}`, () => ctx.engine.request('DELETE', `/volumes/${seg(volume)}`, { query: { force: true } }));
        return v;
      })(),
    ]);

    // The persistent-disk directory, and with it the VM's disk mode (see disk/vm-dir.ts).
    let delivery: Delivery = ctx.config.settings_delivery === 'archive' ? 'archive' : 'bind';
    undo.push('release the VM\'s host mounts', () => releaseVmMounts(ctx, cid));
    const disks = delivery === 'bind' ? await prepareDiskDir(ctx, cid, true) : { mode: 'recreate' as const, mounts: [] };
    const ephemeral = await sizedEphemeral(ctx, cid, created.Mountpoint, p.props.ephemeralDiskMiB, disks.mode);

    const dns = dnsServers(plans);
    const spec = (d: Delivery) =>
      containerSpec({
        cid,
        imageId: p.image.Id,
        labels: ctx.labels({
          ...tagLabels((input.env['bosh'] as Record<string, unknown> | undefined)?.['tags']),
          [L.vmCid]: cid,
          [L.agentId]: input.agentId,
          [L.stemcell]: input.stemcellCid,
          [L.initMode]: p.start.mode,
          [L.settingsDelivery]: d,
          [L.diskMode]: d === 'bind' ? disks.mode : 'recreate',
          [L.ephemeralVolume]: volume,
          [L.networks]: JSON.stringify(Object.fromEntries(plans.map((x) => [x.boshName, x.docker]))),
        }),
        props: p.props,
        limits: p.limits,
        privileged,
        lxcfs: p.props.lxcfs ?? ctx.config.enable_lxcfs_support,
        start: startConfig(p.start, { dns, cgroupVersion: p.cgroupVersion, mountCgroupfs: ctx.config.mount_cgroupfs }),
        primary: plans[0],
        dns,
        ephemeral: d === 'bind' && ephemeral ? { hostPath: ephemeral } : { volume },
        settingsMounts: d === 'bind' ? store.bindMounts(cid) : [],
        extraMounts: d === 'bind' ? disks.mounts : [],
        stopTimeout: ctx.config.stop_timeout_seconds,
      });

    let id: string;
    try {
      id = await createContainer(ctx, cid, spec(delivery));
    } catch (e) {
      // The engine cannot see this machine's files (a remote engine): use its archive API.
      if (!(bindSourceMissing(e) && ctx.config.settings_delivery === 'auto' && (e as EngineError).engineMessage.includes(ctx.state.root))) throw e;
      ctx.log.info('the engine cannot see the state directory; delivering agent settings through its archive API', { state_dir: ctx.state.root });
      delivery = 'archive';
      await releaseVmMounts(ctx, cid);
      id = await createContainer(ctx, cid, spec(delivery));
    }
    undo.push(`remove container ${cid}`, () => ctx.engine.request('DELETE', `/containers/${seg(id)}`, { query: { force: true, v: true } }));
    if (delivery === 'archive') await store.write(cid, settings, 'archive', id);

    for (const plan of plans.slice(1)) {
      await ctx.engine.request('POST', `/networks/${seg(plan.docker)}/connect`, { body: { Container: id, EndpointConfig: endpointConfig(plan) } });
    }
    try {
      await ctx.engine.request('POST', `/containers/${seg(id)}/start`);
    } catch (e) {
      throw startFailure(e, { cid, privileged, plans });
    }

    // Dynamic addresses and MACs exist only now; the settings file is rewritten in place.
    const observed = observedNetworks(plans, await inspectContainer(ctx, id));
    await store.write(cid, { ...settings, networks: agentNetworks(observed) }, delivery, id);
    undo.commit();
    ctx.state.markCreated(cid);
    ctx.log.debug('created VM', { cid, agent_id: input.agentId, start: p.start.mode, delivery, networks: Object.fromEntries(Object.entries(observed).map(([k, v]) => [k, v.ip])) });
    return { cid, networks: resultNetworks(observed) };
  } catch (e) {
    // The state directory (with its marker) goes only when everything else could be undone;
    // otherwise the next create_vm or delete_vm finishes the job (see sweepAbandonedCreates).
    if (await undo.run()) ctx.state.removeVmDir(cid);
    else ctx.state.markAbandoned(cid);
    throw e;
  }
}

export async function createVm(ctx: DockerContext, input: CreateVmInput): Promise<CreateVmResult> {
  try {
    const prepared = await prepare(ctx, input);
    for (let i = 1; ; i++) {
      try {
        return await attempt(ctx, input, prepared);
      } catch (e) {
        // A concurrent delete_vm removed an implicit network after this call ensured it.
        if (e instanceof NetworkVanished && i < 3) {
          ctx.log.info('a network vanished while the VM was being created; trying again', { reason: e.message });
          continue;
        }
        throw e;
      }
    }
  } catch (e) {
    throw asCreationFailure(e);
  }
}
