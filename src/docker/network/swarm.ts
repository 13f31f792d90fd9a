/**
 * Swarm-scoped overlay networks, the layer that spans hosts. What the engines do (measured with
 * Docker 20.10, see README "Many hosts"):
 *
 * - a worker lists an attachable overlay only while a local container uses it; a container
 *   created with the overlay's name still joins it at start (the worker asks the manager), and
 *   fails at once with "code = NotFound" when the Swarm has no such network;
 * - a static IP another node's container holds makes the start wait 20 s for the manager and
 *   fail with "context deadline exceeded"; an engine with a local container on the overlay
 *   knows every node's endpoints (network inspect with verbose=true), one without knows none.
 */
import { VMCreationFailed } from '../../rpc/errors';
import type { DockerContext } from '../context';
import { seg } from '../engine/client';
import type { NetworkInspect } from '../engine/types';
import type { NetworkPlan } from './plan';

export type SwarmRole = 'manager' | 'worker' | 'none';

export async function swarmRole(ctx: DockerContext): Promise<SwarmRole> {
  const s = (await ctx.engineInfo()).Swarm;
  if (s?.LocalNodeState !== 'active') return 'none';
  return s.ControlAvailable ? 'manager' : 'worker';
}

interface VerboseNetwork extends NetworkInspect {
  /** Per service (attachable containers under ""), every node's endpoints on the overlay. */
  Services?: Record<string, { Tasks?: Array<{ Name?: string; EndpointIP?: string; Info?: Record<string, string> }> }>;
}

/** Who holds `ip` on a Swarm overlay, on any node, as far as this engine can tell. */
export async function overlayHolder(ctx: DockerContext, n: NetworkInspect, ip: string): Promise<string | undefined> {
  if (n.Scope !== 'swarm') return undefined;
  const v = await ctx.engine.request<VerboseNetwork>('GET', `/networks/${seg(n.Id)}`, { query: { verbose: true } });
  for (const service of Object.values(v.Services ?? {})) {
    for (const t of service.Tasks ?? []) {
      if (t.EndpointIP === ip) return `container ${t.Name ?? '?'} of the Swarm node at ${t.Info?.['Host IP'] ?? '?'}`;
    }
  }
  return undefined;
}

export function notAttachable(boshName: string, docker: string): string {
  return `network '${boshName}': Docker network ${docker} is a Swarm overlay that is not attachable, so only service tasks may join it: create it with --attachable`;
}

/** create_vm's start failed while the engine attached a Swarm overlay: said for the operator. */
export function swarmAttachFailure(message: string, plans: readonly NetworkPlan[]): VMCreationFailed | undefined {
  const missing = /Could not attach to network (\S+): rpc error: code = NotFound/i.exec(message);
  if (missing) {
    const plan = plans.find((p) => p.docker === missing[1]);
    return new VMCreationFailed(
      `network '${plan?.boshName ?? missing[1]}': Docker network ${missing[1]} is neither on this engine nor in its Swarm. ` +
        'The engine is a Swarm worker, where the CPI never creates a network in place of a Swarm one: create the overlay on a manager ' +
        `(docker network create --driver overlay --attachable --subnet … ${missing[1]}), or a network of this host alone on this engine`,
    );
  }
  const closed = /Could not attach to network (\S+):.*not manually attachable/i.exec(message);
  if (closed) return new VMCreationFailed(notAttachable(plans.find((p) => p.docker === closed[1])?.boshName ?? '?', closed[1] as string));
  if (/attaching to network failed.*context deadline exceeded/i.test(message)) {
    const statics = plans.filter((p) => p.swarm && p.ip).map((p) => `${p.ip} (network '${p.boshName}', Docker network ${p.docker})`);
    if (!statics.length) return new VMCreationFailed(`the Swarm manager did not attach this VM to its overlay within the engine's 20 s: ${message}`, true);
    return new VMCreationFailed(
      `the Swarm manager did not attach this VM to its overlay within the engine's 20 s; most likely the static IP ${statics.join(', ')} is held by a container on another Swarm node ` +
        "(this engine had no container on that overlay yet, so it could not check beforehand; the manager's log says why): " +
        message,
    );
  }
  return undefined;
}
