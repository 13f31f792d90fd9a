/**
 * The addresses a VM actually got, read back from its container: create_vm's v2 result and the
 * networks in the agent settings (marked preconfigured: Docker configured the interfaces).
 */
import type { NetworkSpec, Networks } from '../../cpi/schemas';
import type { ContainerInspect } from '../engine/types';
import { netmaskOf } from './ipam';
import type { NetworkPlan } from './plan';

export interface ObservedNetwork extends NetworkSpec {
  mac?: string;
}

/** create_vm's networks with ip, netmask, gateway filled in from the engine (dynamic ones included). */
export function observedNetworks(plans: readonly NetworkPlan[], container: ContainerInspect | undefined): Record<string, ObservedNetwork> {
  const out: Record<string, ObservedNetwork> = {};
  const attached = container?.NetworkSettings?.Networks ?? {};
  for (const p of plans) {
    const ep = attached[p.docker];
    const n: ObservedNetwork = { ...p.spec, type: p.spec.type ?? p.type };
    const v6 = p.subnet?.family === 6 || (!ep?.IPAddress && !!ep?.GlobalIPv6Address);
    const ip = p.ip ?? (v6 ? ep?.GlobalIPv6Address : ep?.IPAddress) ?? undefined;
    if (ip) n.ip = ip;
    const prefix = v6 ? ep?.GlobalIPv6PrefixLen : ep?.IPPrefixLen;
    if (!n.netmask && prefix) n.netmask = netmaskOf(prefix, v6 ? 6 : 4);
    if (!n.gateway) {
      const gw = v6 ? ep?.IPv6Gateway : ep?.Gateway;
      if (gw) n.gateway = gw;
    }
    if (ep?.MacAddress) n.mac = ep.MacAddress;
    out[p.boshName] = n;
  }
  return out;
}

/** The settings' view: every network preconfigured, with the keys the agent expects present. */
export function agentNetworks(networks: Record<string, ObservedNetwork>): Networks {
  const out: Networks = {};
  for (const [name, n] of Object.entries(networks)) {
    out[name] = { ...n, default: n.default ?? [], dns: n.dns ?? [], preconfigured: true } as NetworkSpec;
  }
  return out;
}

/** create_vm's result: the observed addresses, without the agent-only mac. */
export function resultNetworks(networks: Record<string, ObservedNetwork>): Networks {
  const out: Networks = {};
  for (const [name, { mac: _mac, ...n }] of Object.entries(networks)) out[name] = n;
  return out;
}
