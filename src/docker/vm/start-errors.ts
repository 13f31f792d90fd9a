/** What the engine says when a VM's container cannot be created or started, said for BOSH. */
import { isBoshError, VMCreationFailed } from '../../rpc/errors';
import { isEngineError } from '../engine/client';
import type { NetworkPlan } from '../network/plan';
import { swarmAttachFailure } from '../network/swarm';

/** A network removed by a concurrent delete_vm between ensuring it and starting: try again. */
export class NetworkVanished extends Error {}

export function startFailure(e: unknown, p: { cid: string; privileged: boolean; plans: readonly NetworkPlan[] }): Error {
  if (!isEngineError(e)) return e as Error;
  const m = e.engineMessage;
  const swarm = swarmAttachFailure(m, p.plans);
  if (swarm) return swarm;
  if (/network .* not found/i.test(m)) return new NetworkVanished(m);
  if (/address already in use/i.test(m) && !/bind/i.test(m)) {
    const ips = p.plans.filter((x) => x.ip).map((x) => `${x.ip} (network '${x.boshName}')`);
    return new VMCreationFailed(`the static IP ${ips.join(', ')} is already in use on its Docker network: ${m}`);
  }
  const port = /Bind for ([^ ]+) failed|listen (?:tcp|udp)\d? ([^ ]+): bind: address already in use/i.exec(m);
  if (port) return new VMCreationFailed(`port ${port[1] ?? port[2]} is already in use on the Docker host: ${m}`);
  if (p.privileged && /apply caps|operation not permitted/i.test(m)) {
    return new VMCreationFailed(
      `this Docker host cannot start privileged containers (${m}); its engine's capability bounding set lacks capabilities a privileged container needs (e.g. CAP_SYS_RESOURCE). Set privileged: false in the VM's cloud_properties or the CPI's config`,
    );
  }
  return new VMCreationFailed(`starting VM ${p.cid} failed: ${m}`, e.statusCode >= 500 && !/invalid|not supported|no such/i.test(m));
}

/** Every create_vm failure leaves as VMCreationFailed; ok_to_retry only where a retry can help. */
export function asCreationFailure(e: unknown): Error {
  if (isBoshError(e)) {
    if (e.boshType === 'Bosh::Clouds::VMCreationFailed') return e as unknown as Error;
    return new VMCreationFailed(e.message, e.okToRetry);
  }
  if (isEngineError(e)) return new VMCreationFailed(`the Docker engine refused: ${e.engineMessage}`, e.statusCode >= 500);
  return new VMCreationFailed(e instanceof Error ? e.message : String(e));
}
