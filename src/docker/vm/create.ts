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
import { ensureNetwork, removeIfUnused, verifySwarmJoins } from '../network/docker-networks';
import { dnsServers, planNetworks, type NetworkPlan } from '../network/plan';
import { agentNetworks, observedNetworks, resultNetworks } from '../network/results';
import { buildAgentSettings } from '../settings/agent-settings';
import { SettingsStore, type Delivery } from '../settings/store';
import { initOf, inspectImage } from '../stemcell/resolve';
import { parseVmProperties, type VmProperties } from './cloud-properties';
import { containerSpec, endpointConfig } from './container-spec';
import { checkCapacity, resourceLimits } from './resources';
import { chooseStartMode, startConfig, type StartPlan } from './start-mode';
import { asCreationFailure, NetworkVanished, startFailure } from './start-errors';
import { Undo } from './undo';
import { settleAll } from '../../runtime/settle';
import { loopMount } from '../disk/host';
import { createImage, imagePath } from '../disk/image';
import { prepareDiskDir, releaseVmMounts, type DiskMode, type PreparedDiskDir } from '../disk/vm-dir';
import { failpoint } from '../../runtime/failpoint';
import { newPlace, type VmPlace } from '../state/place';
import { verifyBoot } from './verify';
import { stemcellAgentConfig } from './agent-config';
import { planBlockVm, setUpBlockVm, type BlockVm, type BlockVmPlan } from './block-vm';
import { releaseSlots } from '../disk/block';
import { vmDiskBind } from '../disk/remote';
import { recordSeesState, remoteLive } from '../disk/view';
import { choosePrivilege, downgradeWarning, isPrivilegeRefusal, PrivilegeRefused, rememberRefusal, securityFor, type Privilege } from './security';

interface Prepared {
  engineId: string;
  props: VmProperties;
  plans: NetworkPlan[];
  image: ImageInspect;
  start: StartPlan;
  limits: ReturnType<typeof resourceLimits> & Record<string, unknown>;
  cgroupVersion: string | undefined;
  privilege: Privilege;
  /** The stemcell has a BOSH agent (its configuration was recorded at import). */
  agent: boolean;
  block: BlockVmPlan | undefined;
}

/** Everything that can be checked before anything is created. */
async function prepare(ctx: DockerContext, input: CreateVmInput): Promise<Prepared> {
  const props = parseVmProperties(input.cloudProperties);
  const plans = planNetworks(input.networks);
  for (const w of [...props.warnings, ...plans.flatMap((p) => p.warnings)]) ctx.log.warn(w);
  const image = await inspectImage(ctx, input.stemcellCid);
  if (!image) throw new VMCreationFailed(`stemcell '${input.stemcellCid}' not found: no such image on the Docker engine`);
  // A forced systemd start must be checked against every init the image has.
  const detected = await initOf(ctx, image, props.systemd === true);
  const warnings: string[] = [];
  const start = chooseStartMode({
    detected,
    imageHasCommand: (image.Config?.Cmd?.length ?? 0) > 0 || (image.Config?.Entrypoint?.length ?? 0) > 0,
    configSystemd: ctx.config.start_containers_with_systemd,
    forceSystemd: props.systemd,
    stemcell: input.stemcellCid,
    warnings,
  });
  for (const w of warnings) ctx.log.warn(w);
  const limits = { ...props.hostConfig, ...resourceLimits(props) };
  // The engine's info (its ID keys the VM's records; capacity and cgroup version) was asked for
  // when the call began, alongside the image.
  const info = await ctx.engineInfo();
  checkCapacity(limits, props, info);
  const engineId = await ctx.engineId();
  const privilege = choosePrivilege(ctx, engineId, props.privileged);
  if (privilege.downgraded) ctx.log.warn(downgradeWarning(privilege.downgraded));
  const block = await planBlockVm(ctx, image, input.diskCids);
  return { engineId, props, plans, image, start, limits, cgroupVersion: info.CgroupVersion, privilege, agent: !!stemcellAgentConfig(image), block };
}

function ipHolder(net: NetworkInspect | undefined, ip: string): string | undefined {
  for (const c of Object.values(net?.Containers ?? {})) {
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
async function sizedEphemeral(ctx: DockerContext, place: VmPlace, volumeDir: string, sizeMiB: number | undefined, mode: DiskMode): Promise<string | undefined> {
  if (!sizeMiB) return undefined;
  if ((mode !== 'host' && mode !== 'block') || !fs.existsSync(volumeDir)) {
    ctx.log.warn(`ephemeral_disk: ${sizeMiB} MiB is not enforced: that needs the CPI on the Docker host as root, so /var/vcap/data has the host's free space`);
    return undefined;
  }
  const image = imagePath(volumeDir);
  await createImage(image, sizeMiB);
  const mountPoint = path.join(place.dir, 'ephemeral');
  await loopMount(image, mountPoint);
  return mountPoint;
}

/**
 * Resolves each planned network to a Docker network, creating it where the CPI may. An unnamed
 * manual network may map to an existing network of another name (same subnet).
 */
async function joinNetworks(ctx: DockerContext, place: VmPlace, plans: NetworkPlan[], undo: Undo): Promise<void> {
  const createdNetworks: string[] = [];
  for (const plan of plans) {
    const n = await ensureNetwork(ctx, plan);
    plan.docker = n.name;
    if (n.created) {
      undo.push(`remove network ${n.name}`, () => removeIfUnused(ctx, n.id));
      createdNetworks.push(n.name);
      ctx.state.markCreating(place.engineId as string, place.cid, createdNetworks);
    }
    // A static IP a running container holds is refused before the container is made.
    const holder = plan.ip && ipHolder(n.network, plan.ip);
    if (holder) throw new VMCreationFailed(`ip ${plan.ip} of network '${plan.boshName}' is already used by container ${holder} on Docker network ${plan.docker}`);
  }
}

/** Networks and the ephemeral volume do not depend on each other: made side by side, each registering its undo. */
async function makeStorageAndNetworks(ctx: DockerContext, place: VmPlace, p: Prepared, plans: NetworkPlan[], undo: Undo): Promise<VolumeInspect> {
  const volume = ephemeralVolumeName(place.cid);
  const size: Record<string, string> = p.props.ephemeralDiskMiB ? { [L.sizeMiB]: String(p.props.ephemeralDiskMiB) } : {};
  const [, created] = await settleAll([
    joinNetworks(ctx, place, plans, undo),
    (async () => {
      const v = await ctx.engine.request<VolumeInspect>('POST', '/volumes/create', {
        body: { Name: volume, Driver: 'local', Labels: ctx.labels({ [L.kind]: 'ephemeral', [L.vmCid]: place.cid, ...size }) },
      });
      undo.push(`remove volume ${volume}`, () => ctx.engine.request('DELETE', `/volumes/${seg(volume)}`, { query: { force: true } }));
      return v;
    })(),
  ]);
  return created;
}

interface Layout {
  disks: PreparedDiskDir;
  block?: BlockVm;
  ephemeral: string | undefined;
  plans: NetworkPlan[];
}

function vmLabels(ctx: DockerContext, input: CreateVmInput, p: Prepared, place: VmPlace, l: Layout, d: Delivery): Record<string, string> {
  return ctx.labels({
    ...tagLabels((input.env['bosh'] as Record<string, unknown> | undefined)?.['tags']),
    [L.vmCid]: place.cid,
    [L.engineId]: p.engineId,
    [L.agentId]: input.agentId,
    [L.stemcell]: input.stemcellCid,
    [L.initMode]: p.start.mode,
    [L.settingsDelivery]: d,
    [L.diskMode]: l.disks.mode,
    ...(l.block ? { [L.blockMinors]: l.block.minors.join(',') } : {}),
    [L.ephemeralVolume]: ephemeralVolumeName(place.cid),
    [L.networks]: JSON.stringify(Object.fromEntries(l.plans.map((x) => [x.boshName, x.docker]))),
  });
}

function specFor(ctx: DockerContext, input: CreateVmInput, p: Prepared, place: VmPlace, l: Layout, d: Delivery): ContainerCreateBody {
  const dns = dnsServers(l.plans);
  return containerSpec({
    cid: place.cid,
    imageId: p.image.Id,
    labels: vmLabels(ctx, input, p, place, l, d),
    props: p.props,
    limits: p.limits,
    privileged: p.privilege.privileged,
    lxcfs: p.props.lxcfs ?? ctx.config.enable_lxcfs_support,
    start: startConfig(p.start, { dns, cgroupVersion: p.cgroupVersion, mountCgroupfs: ctx.config.mount_cgroupfs }),
    primary: l.plans[0],
    dns,
    ephemeral: d === 'bind' && l.ephemeral ? { hostPath: l.ephemeral } : { volume: ephemeralVolumeName(place.cid) },
    settingsMounts: d === 'bind' ? new SettingsStore(ctx).bindMounts(place.boundSettings as string) : [],
    extraMounts: d === 'bind' ? [...l.disks.mounts, ...(l.block?.mounts ?? [])] : [],
    extraBinds: l.disks.binds ?? [],
    stopTimeout: ctx.config.stop_timeout_seconds,
    security: securityFor({ privileged: p.privilege.privileged, agent: p.agent, blockMinors: l.block?.minors, deviceRules: l.block?.rules }),
  });
}

/** Creates the container, falling back to archive delivery when the engine cannot see this machine's files. */
async function createWithDelivery(ctx: DockerContext, input: CreateVmInput, p: Prepared, place: VmPlace, l: Layout): Promise<{ id: string; delivery: Delivery }> {
  const configured: Delivery = ctx.config.settings_delivery === 'archive' ? 'archive' : 'bind';
  try {
    return { id: await createContainer(ctx, place.cid, specFor(ctx, input, p, place, l, configured)), delivery: configured };
  } catch (e) {
    // The engine cannot see this machine's files (a remote engine): use its archive API.
    if (!(bindSourceMissing(e) && ctx.config.settings_delivery === 'auto' && (e as EngineError).engineMessage.includes(ctx.state.root))) throw e;
    ctx.log.info('the engine cannot see the state directory; delivering agent settings through its archive API', { state_dir: ctx.state.root });
    await recordSeesState(ctx, false);
    await releaseVmMounts([place.dir]);
    if (l.block) await releaseSlots(l.block.minors, place.dir, place.diskDir);
    const fallback: Layout = { ...l, disks: await remoteDisks(ctx, p, place), block: undefined, ephemeral: undefined };
    return { id: await createContainer(ctx, place.cid, specFor(ctx, input, p, place, fallback, 'archive')), delivery: 'archive' };
  }
}

/** Disks for a VM on an engine that cannot see this machine's files: live through helpers there, where its host allows. */
async function remoteDisks(ctx: DockerContext, p: Prepared, place: VmPlace): Promise<PreparedDiskDir> {
  const { live } = await remoteLive(ctx, p.image.Id);
  return live ? { mode: 'remote', mounts: [], binds: [await vmDiskBind(ctx, place.cid)] } : { mode: 'recreate', mounts: [] };
}

async function attempt(ctx: DockerContext, input: CreateVmInput, p: Prepared): Promise<CreateVmResult> {
  const place = newPlace(ctx.state, p.engineId, newVmCid());
  const cid = place.cid;
  const undo = new Undo(ctx.log);
  const store = new SettingsStore(ctx);
  try {
    ctx.state.createVmDir(p.engineId, cid);
    ctx.state.markCreating(p.engineId, cid);
    const settings = buildAgentSettings({ agentId: input.agentId, vmCid: cid, agent: ctx.config.agent, networks: agentNetworks(observedNetworks(p.plans, undefined)), env: input.env });
    const bind = ctx.config.settings_delivery !== 'archive';
    if (bind) await store.create(place, settings, 'bind');

    const plans = p.plans.map((x) => ({ ...x }));
    // The persistent-disk directory, and with it the VM's disk mode (see disk/vm-dir.ts): host
    // work (a mount(8) run), side by side with the engine's.
    undo.push("release the VM's host mounts", () => releaseVmMounts([place.dir]));
    const [volume, disks] = await settleAll([
      makeStorageAndNetworks(ctx, place, p, plans, undo),
      bind ? prepareDiskDir(place.diskDir as string, true, !!p.block) : remoteDisks(ctx, p, place),
    ]);
    const block = disks.mode === 'block' && p.block ? await setUpBlockVm(ctx, place.dir, place.diskDir as string, p.block, undo) : undefined;
    const layout: Layout = { disks, block, plans, ephemeral: await sizedEphemeral(ctx, place, volume.Mountpoint, p.props.ephemeralDiskMiB, disks.mode) };

    const { id, delivery } = await createWithDelivery(ctx, input, p, place, layout);
    if (delivery === 'bind') await recordSeesState(ctx, true);
    undo.push(`remove container ${cid}`, () => ctx.engine.request('DELETE', `/containers/${seg(id)}`, { query: { force: true, v: true } }));
    if (delivery === 'archive') await store.create({ ...place, boundSettings: undefined }, settings, 'archive', id);
    await failpoint('create_vm.after-container');
    for (const plan of plans.slice(1)) {
      await ctx.engine.request('POST', `/networks/${seg(plan.docker)}/connect`, { body: { Container: id, EndpointConfig: endpointConfig(plan) } });
    }
    const { privileged } = p.privilege;
    try {
      await ctx.engine.request('POST', `/containers/${seg(id)}/start`);
    } catch (e) {
      if (privileged && !p.privilege.explicit && isPrivilegeRefusal(e)) {
        rememberRefusal(ctx, p.engineId, (e as EngineError).engineMessage);
        throw new PrivilegeRefused((e as EngineError).engineMessage);
      }
      throw startFailure(e, { cid, privileged, plans });
    }
    await verifySwarmJoins(ctx, plans);
    const booted = await verifyBoot(ctx, cid, id, p.start, Date.now());

    // Dynamic addresses and MACs exist only now; the settings file is rewritten in place.
    const observed = observedNetworks(plans, booted);
    const written = delivery === 'archive' ? { ...place, boundSettings: undefined } : place;
    await store.write(written, booted, { ...settings, bosh_cpi: { generation: 1 } }, { ...settings, networks: agentNetworks(observed) });
    undo.commit();
    ctx.state.markCreated(p.engineId, cid);
    ctx.log.debug('created VM', { cid, agent_id: input.agentId, start: p.start.mode, delivery, networks: Object.fromEntries(Object.entries(observed).map(([k, v]) => [k, v.ip])) });
    return { cid, networks: resultNetworks(observed) };
  } catch (e) {
    // The record directory (with its marker) goes only when everything else could be undone;
    // otherwise the next create_vm or delete_vm on this engine finishes the job (see sweepAbandonedCreates).
    if (await undo.run()) ctx.state.removeVmDir(p.engineId, cid);
    else ctx.state.markAbandoned(p.engineId, cid);
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
        // Only the configuration asked for privileged: this engine cannot, so unprivileged it is.
        if (e instanceof PrivilegeRefused && prepared.privilege.privileged) {
          ctx.log.warn(downgradeWarning(e.message));
          prepared.privilege = { privileged: false, explicit: false, downgraded: e.message };
          continue;
        }
        throw e;
      }
    }
  } catch (e) {
    throw asCreationFailure(e);
  }
}
