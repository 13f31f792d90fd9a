/**
 * Docker networks for BOSH networks: found or created (concurrent creation by parallel create_vm
 * calls is success), and removed when the CPI made them implicitly and their last container went.
 * Pre-existing networks are used, never changed or removed; they must have the requested driver.
 * Swarm overlays are joined from any node (see swarm.ts).
 */
import { CloudError, VMCreationFailed } from '../../rpc/errors';
import type { DockerContext } from '../context';
import { isEngineError, isNotFound, seg } from '../engine/client';
import type { NetworkInspect } from '../engine/types';
import { failpoint } from '../../runtime/failpoint';
import { L } from '../labels';
import { contains, overlaps, parseCidr } from './ipam';
import type { NetworkPlan } from './plan';
import { notAttachable, overlayHolder, swarmRole } from './swarm';

export type NetworkOrigin = 'implicit' | 'director';

export interface EnsuredNetwork {
  id: string;
  name: string;
  /** Whether this call created it (so a failed create_vm removes it again). */
  created: boolean;
  /** The engine's view of it, including the containers on it (none yet for a network joined through the Swarm). */
  network: NetworkInspect | undefined;
}

export async function inspectNetwork(ctx: DockerContext, name: string): Promise<NetworkInspect | undefined> {
  try {
    return await ctx.engine.request<NetworkInspect>('GET', `/networks/${seg(name)}`);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

function subnetsOf(n: NetworkInspect): string[] {
  return (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => typeof s === 'string' && s.length > 0);
}

/** For a manual network, the existing Docker network must have a subnet holding the ip. */
function checkFits(plan: NetworkPlan, n: NetworkInspect): void {
  if (plan.type !== 'manual' || !plan.ip) return;
  const subnets = subnetsOf(n);
  if (!subnets.some((s) => contains(parseCidr(s), plan.ip as string))) {
    throw new VMCreationFailed(
      `network '${plan.boshName}': Docker network ${n.Name} has subnet(s) ${subnets.join(', ') || 'none'}, which do not contain ip ${plan.ip}`,
    );
  }
}

/**
 * An existing network must be what the manifest asked for: the requested driver (a local bridge
 * under an overlay's name splits the network silently), and attachable if it is a Swarm overlay.
 */
function checkExisting(ctx: DockerContext, plan: NetworkPlan, n: NetworkInspect): void {
  if (plan.driverGiven && n.Driver !== plan.driver) {
    const shadow = plan.driver === 'overlay' && n.Scope === 'local' ? ' (a local network under the name of a Swarm overlay splits it: remove it from this engine)' : '';
    throw new VMCreationFailed(
      `network '${plan.boshName}': Docker network ${n.Name} on the Docker engine at ${ctx.engine.endpoint.display} has driver ${n.Driver}, not the requested ${plan.driver}${shadow}`,
    );
  }
  if (n.Scope === 'swarm' && n.Driver === 'overlay' && !n.Attachable) {
    throw new VMCreationFailed(notAttachable(plan.boshName, n.Name));
  }
  checkFits(plan, n);
  plan.swarm = n.Scope === 'swarm';
}

/** A static IP a container on another Swarm node holds is refused before the engine waits 20 s. */
async function checkOverlayIp(ctx: DockerContext, plan: NetworkPlan, n: NetworkInspect): Promise<void> {
  if (!plan.ip) return;
  const holder = await overlayHolder(ctx, n, plan.ip);
  if (holder) throw new VMCreationFailed(`ip ${plan.ip} of network '${plan.boshName}' is already used on Swarm overlay ${n.Name} by ${holder}`);
}

/**
 * After start, the networks joined through the Swarm are on this engine: checked as an existing
 * network is (the container is removed again when they are not what the manifest asked for).
 */
export async function verifySwarmJoins(ctx: DockerContext, plans: readonly NetworkPlan[]): Promise<void> {
  for (const plan of plans.filter((p) => p.throughSwarm)) {
    const n = await inspectNetwork(ctx, plan.docker);
    if (!n) throw new VMCreationFailed(`network '${plan.boshName}': Docker network ${plan.docker} is not on the Docker engine at ${ctx.engine.endpoint.display} after the VM joined it`, true);
    checkExisting(ctx, plan, n);
  }
}

async function findBySubnet(ctx: DockerContext, cidr: string): Promise<NetworkInspect | undefined> {
  const all = await ctx.engine.request<NetworkInspect[]>('GET', '/networks');
  return all.find((n) => subnetsOf(n).includes(cidr));
}

function createBody(ctx: DockerContext, name: string, plan: { driver: string; enableIpv6: boolean; subnet?: string; gateway?: string }, origin: NetworkOrigin) {
  return {
    Name: name,
    Driver: plan.driver,
    // Without it, engines before API 1.44 create a second network of the same name.
    CheckDuplicate: true,
    EnableIPv6: plan.enableIpv6,
    Attachable: plan.driver === 'overlay' ? true : undefined,
    IPAM: { Driver: 'default', Config: plan.subnet ? [{ Subnet: plan.subnet, ...(plan.gateway ? { Gateway: plan.gateway } : {}) }] : [] },
    Labels: ctx.labels({ [L.networkOrigin]: origin }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * "Pool overlaps" with no listed network overlapping: another create of this network (from a
 * CPI with other state, which the lock does not reach) holds the pool and is not stored yet;
 * measured here, a list right after the refusal missed the winner 335 times in 554. Waits
 * (bounded) for it to appear under this name.
 */
async function inFlightTwin(ctx: DockerContext, name: string, subnet: string | undefined): Promise<NetworkInspect | undefined> {
  if (!subnet) return undefined;
  const mine = parseCidr(subnet);
  for (let i = 0; i < 20; i++) {
    const all = await ctx.engine.request<NetworkInspect[]>('GET', '/networks');
    const twin = all.find((n) => n.Name === name);
    if (twin && subnetsOf(twin).includes(mine.cidr)) {
      ctx.log.debug('another call created this Docker network first', { name, waitedMs: i * 50 });
      return twin;
    }
    if (twin) return undefined;
    if (all.some((n) => subnetsOf(n).some((s) => overlaps(parseCidr(s), mine)))) return undefined;
    await sleep(50);
  }
  return undefined;
}

export async function createDockerNetwork(
  ctx: DockerContext,
  name: string,
  plan: { driver: string; enableIpv6: boolean; subnet?: string; gateway?: string },
  origin: NetworkOrigin,
): Promise<{ id: string; created: boolean; conflict?: string }> {
  try {
    const r = await ctx.engine.request<{ Id: string }>('POST', '/networks/create', { body: createBody(ctx, name, plan, origin) });
    ctx.log.debug('created Docker network', { name, subnet: plan.subnet, origin });
    return { id: r.Id, created: true };
  } catch (e) {
    if (!isEngineError(e)) throw e;
    if (e.statusCode === 409 || /already exists/i.test(e.engineMessage)) {
      const n = await inspectNetwork(ctx, name);
      if (n) return { id: n.Id, created: false };
    }
    if (/overlap/i.test(e.engineMessage)) {
      const winner = await inFlightTwin(ctx, name, plan.subnet);
      return winner ? { id: winner.Id, created: false } : { id: '', created: false, conflict: e.engineMessage };
    }
    // A worker says "Cannot create a multi-host network from a worker node", a standalone engine "not a swarm manager".
    if (/not a swarm manager|multi-host network from a worker/i.test(e.engineMessage)) {
      throw new CloudError(
        `Docker network ${name} (driver ${plan.driver}) cannot be created by the Docker engine at ${ctx.engine.endpoint.display}: it is not a Swarm manager. ` +
          'Create the overlay on a manager (docker network create --driver overlay --attachable …), or join this engine to a Swarm first (docker swarm init / join)',
      );
    }
    throw e;
  }
}

export async function ensureNetwork(ctx: DockerContext, plan: NetworkPlan): Promise<EnsuredNetwork> {
  const existing = await inspectNetwork(ctx, plan.docker);
  if (existing) {
    checkExisting(ctx, plan, existing);
    if (plan.swarm) await checkOverlayIp(ctx, plan, existing);
    return { id: existing.Id, name: existing.Name, created: false, network: existing };
  }
  // A worker lists a Swarm overlay only while a local container uses it: a name it does not
  // know may be one, so the container joins by name and the engine asks the manager. A local
  // network made here instead would split the network silently.
  if (plan.named && (await swarmRole(ctx)) === 'worker') {
    ctx.log.debug('named network not on this Swarm worker: joining it through the Swarm', { network: plan.docker });
    plan.throughSwarm = true;
    plan.swarm = true;
    return { id: plan.docker, name: plan.docker, created: false, network: undefined };
  }
  // An overlay spans every host: made once, on a manager, by the operator. One made by a
  // create_vm would belong to no host's VMs in particular, and no delete_vm could tell when its
  // last user on any host went.
  if (plan.driver === 'overlay') throw missingOverlay(ctx, plan);
  await failpoint('network.before-lock');
  // Parallel create_vm calls of one new network: one creates it, the others wait and find it.
  return ctx.locked([['network', plan.docker]], () => createMissing(ctx, plan));
}

async function createMissing(ctx: DockerContext, plan: NetworkPlan): Promise<EnsuredNetwork> {
  const made = await inspectNetwork(ctx, plan.docker);
  if (made) {
    checkExisting(ctx, plan, made);
    return { id: made.Id, name: made.Name, created: false, network: made };
  }
  // Unnamed manual networks reuse a network that already has exactly this subnet.
  if (plan.type === 'manual' && !plan.named && plan.subnet) {
    const same = await findBySubnet(ctx, plan.subnet.cidr);
    if (same) return { id: same.Id, name: same.Name, created: false, network: same };
  }
  await failpoint('network.before-create');
  const r = await createDockerNetwork(
    ctx,
    plan.docker,
    { driver: plan.driver, enableIpv6: plan.enableIpv6, subnet: plan.subnet?.cidr, gateway: plan.gateway },
    'implicit',
  );
  if (r.conflict) {
    if (!plan.named && plan.subnet) {
      const same = await findBySubnet(ctx, plan.subnet.cidr);
      if (same) return { id: same.Id, name: same.Name, created: false, network: same };
    }
    throw new VMCreationFailed(`network '${plan.boshName}': cannot create Docker network ${plan.docker} for ${plan.subnet?.cidr}: ${r.conflict}`);
  }
  const n = await inspectNetwork(ctx, plan.docker);
  if (!n) throw new VMCreationFailed(`network '${plan.boshName}': Docker network ${plan.docker} vanished right after it was created`, true);
  checkFits(plan, n);
  return { id: n.Id, name: n.Name, created: r.created, network: n };
}

function missingOverlay(ctx: DockerContext, plan: NetworkPlan): VMCreationFailed {
  const ipam = plan.subnet ? ` --subnet ${plan.subnet.cidr}${plan.gateway ? ` --gateway ${plan.gateway}` : ''}` : '';
  return new VMCreationFailed(
    `network '${plan.boshName}': Swarm overlay ${plan.docker} is not on the Docker engine at ${ctx.engine.endpoint.display}. ` +
      `The CPI does not create overlays for VMs: create it once on a Swarm manager (docker network create --driver overlay --attachable${ipam} ${plan.docker})`,
  );
}

/** Removes a network the CPI created implicitly, if no container uses it any more. */
export async function removeIfUnused(ctx: DockerContext, nameOrId: string): Promise<boolean> {
  const n = await inspectNetwork(ctx, nameOrId);
  if (!n || n.Labels?.[L.managed] !== 'true' || n.Labels?.[L.networkOrigin] !== 'implicit') return false;
  if (Object.keys(n.Containers ?? {}).length > 0) return false;
  try {
    await ctx.engine.request('DELETE', `/networks/${seg(n.Id)}`);
    ctx.log.debug('removed Docker network after its last VM', { name: n.Name });
    return true;
  } catch (e) {
    // Another VM joined meanwhile (active endpoints), or another call removed it: both fine.
    if (isEngineError(e) && (e.statusCode === 403 || e.statusCode === 409 || e.statusCode === 404)) return false;
    // A Swarm overlay an earlier version made implicitly: still used on another node ("in use
    // by task"), or this node is a worker.
    if (isEngineError(e) && n.Scope === 'swarm' && /in use by task|not a swarm manager/i.test(e.engineMessage)) return false;
    throw e;
  }
}
