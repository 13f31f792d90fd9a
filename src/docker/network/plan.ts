/**
 * From create_vm's `networks` to Docker networks: which network each BOSH network maps to and
 * with which address. Pure: no engine calls, so every rule here is unit-tested.
 *
 * - manual (an ip and a netmask): a Docker network with an IPAM subnet, named by
 *   cloud_properties.name or after the subnet (bosh-10.244.0.0-24); the container gets the ip.
 * - dynamic: a Docker network without IPAM (cloud_properties.name, default `bosh-dynamic`); the
 *   engine assigns the address and create_vm reports it back.
 * - vip: not supported: a container's addresses come from its Docker networks.
 */
import type { NetworkSpec, Networks } from '../../cpi/schemas';
import { VMCreationFailed } from '../../rpc/errors';
import { contains, familyOf, prefixOf, subnetOf, type Subnet } from './ipam';

export const DEFAULT_DYNAMIC_NETWORK = 'bosh-dynamic';

export interface NetworkPlan {
  /** The BOSH network's name (the key in `networks`). */
  boshName: string;
  type: 'manual' | 'dynamic';
  /** The Docker network's name. */
  docker: string;
  /** Whether the name came from cloud_properties.name (else derived). */
  named: boolean;
  driver: string;
  /** Whether cloud_properties.driver named it: then an existing network must have that driver. */
  driverGiven: boolean;
  enableIpv6: boolean;
  ip?: string;
  subnet?: Subnet;
  gateway?: string;
  spec: NetworkSpec;
  warnings: string[];
  /** Set by ensureNetwork: the Docker network is a Swarm-scoped one (spans hosts). */
  swarm?: boolean;
  /**
   * Set by ensureNetwork on a Swarm worker: the named network is not on this engine (yet), so
   * the container joins it by name through the Swarm and it is checked once attached.
   */
  throughSwarm?: boolean;
}

const KNOWN_CP = new Set(['name', 'driver', 'enable_ipv6']);
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function fail(boshName: string, message: string): never {
  throw new VMCreationFailed(`network '${boshName}': ${message}`);
}

export function derivedNetworkName(subnet: Subnet): string {
  return `bosh-${subnet.cidr.replace('/', '-').replace(/:/g, '_')}`;
}

function planOne(boshName: string, spec: NetworkSpec): NetworkPlan {
  const cp = spec.cloud_properties ?? {};
  const warnings = Object.keys(cp)
    .filter((k) => !KNOWN_CP.has(k))
    .map((k) => `network '${boshName}': cloud_properties.${k} is not used by the Docker CPI and was ignored`);
  const name = cp['name'];
  if (name !== undefined && (typeof name !== 'string' || !DOCKER_NAME.test(name))) fail(boshName, 'cloud_properties.name must be a Docker network name');
  const driverGiven = cp['driver'] !== undefined;
  const driver = cp['driver'] ?? 'bridge';
  if (typeof driver !== 'string' || !driver) fail(boshName, 'cloud_properties.driver must be a string');
  const enableIpv6 = cp['enable_ipv6'] === true;
  const type = spec.type ?? (spec.netmask ? 'manual' : 'dynamic');
  if (type === 'vip') fail(boshName, 'vip networks are not supported by the Docker CPI: a container gets its addresses from the Docker networks it joins');

  if (type === 'dynamic') {
    return { boshName, type, docker: (name as string | undefined) ?? DEFAULT_DYNAMIC_NETWORK, named: name !== undefined, driver, driverGiven, enableIpv6, spec, warnings };
  }

  const ip = spec.ip ?? undefined;
  if (!ip) fail(boshName, 'a manual network needs an ip');
  const family = familyOf(ip);
  if (!family) fail(boshName, `'${ip}' is not an IP address`);
  let prefix: number | undefined;
  try {
    prefix = prefixOf(spec.netmask ?? spec.prefix ?? undefined, family);
  } catch (e) {
    fail(boshName, (e as Error).message);
  }
  if (prefix === undefined) fail(boshName, 'a manual network needs a netmask');
  const subnet = subnetOf(ip, prefix);
  const gateway = spec.gateway ?? undefined;
  if (gateway) {
    if (!contains(subnet, gateway)) fail(boshName, `gateway ${gateway} is outside the subnet ${subnet.cidr}`);
    if (gateway === ip) fail(boshName, `ip ${ip} is the gateway`);
  }
  return {
    boshName,
    type: 'manual',
    docker: (name as string | undefined) ?? derivedNetworkName(subnet),
    named: name !== undefined,
    driver,
    driverGiven,
    enableIpv6: enableIpv6 || family === 6,
    ip,
    subnet,
    gateway,
    spec,
    warnings,
  };
}

/** Plans every network; the one whose `default` names the gateway (or the first) comes first. */
export function planNetworks(networks: Networks): NetworkPlan[] {
  const plans = Object.entries(networks).map(([n, s]) => planOne(n, s));
  const seen = new Map<string, string>();
  for (const p of plans) {
    const other = seen.get(p.docker);
    if (other) fail(p.boshName, `maps to Docker network ${p.docker} like network '${other}'; a container joins a network once`);
    seen.set(p.docker, p.boshName);
  }
  const primary = plans.findIndex((p) => p.spec.default?.includes('gateway'));
  if (primary > 0) plans.unshift(...plans.splice(primary, 1));
  return plans;
}

/** DNS servers for the container: those of the network that is default for dns, else the first. */
export function dnsServers(plans: readonly NetworkPlan[]): string[] {
  const p = plans.find((x) => x.spec.default?.includes('dns')) ?? plans[0];
  return p?.spec.dns ?? [];
}
