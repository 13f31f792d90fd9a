/**
 * The bridge's container vocabulary: BOSH networks and cloud_properties.ports in the Docker
 * backend's terms, ready for a container CLI (argv words) and a container engine's API (JSON
 * objects), so a provider file never has to build them. A provider-neutral alternative would need
 * conditionals and loops in templates (`--ip IP` only for a static IP, one `-p` and one
 * `"6868/tcp"` key per port) — a small language inside provider files, the code surface this
 * engine keeps out. Here every value stays data: flags are whole argv words (a list splices only
 * because the bridge made it, see template/values.ts), API objects are JSON values.
 */
import type { Networks } from '../../cpi/schemas';
import { familyOf, prefixOf, subnetOf } from '../../docker/network/ipam';
import { parsePorts, portConfig } from '../../docker/vm/ports';
import { CloudError } from '../../rpc/errors';

type Params = Record<string, unknown>;

function defaultNetwork(networks: Networks): [string, Networks[string]] | undefined {
  const entries = Object.entries(networks);
  return entries.find(([, n]) => Array.isArray(n.default) && n.default.includes('gateway')) ?? entries[0];
}

/**
 * The default network for container providers, in the Docker backend's terms: `network` (its
 * cloud_properties.name; else `bosh-<subnet>` for a manual network, `bosh-dynamic` for a dynamic
 * one), `ip`, `network_subnet`/`network_gateway` (manual), and the same as CLI flags
 * (`ip_flags`: `--ip IP` or nothing; `network_create_flags`: `--subnet S --gateway G` or nothing)
 * and as Engine API objects (`ipam_config`, `network_ipam`).
 */
export function containerNetworkParams(networks: Networks): Params {
  const net = defaultNetwork(networks);
  if (!net) return { ip_flags: [], network_create_flags: [], ipam_config: {}, network_ipam: {} };
  const [, spec] = net;
  const cpName = spec.cloud_properties?.['name'];
  const out: Params = { ip_flags: [], network_create_flags: [], ipam_config: {}, network_ipam: {} };
  let subnet: string | undefined;
  if (spec.type === 'manual' && spec.ip) {
    const family = familyOf(spec.ip);
    const prefix = family ? prefixOf(spec.netmask ?? (family === 4 ? 24 : 64), family) : undefined;
    if (!family || prefix === undefined) throw new CloudError(`create_vm: network '${net[0]}' has no usable ip/netmask`);
    subnet = subnetOf(spec.ip, prefix).cidr;
    Object.assign(out, { ip: spec.ip, network_subnet: subnet, ip_flags: ['--ip', spec.ip], ipam_config: { IPv4Address: spec.ip } });
    const gw = typeof spec.gateway === 'string' && spec.gateway ? spec.gateway : undefined;
    out['network_create_flags'] = ['--subnet', subnet, ...(gw ? ['--gateway', gw] : [])];
    out['network_ipam'] = { Config: [{ Subnet: subnet, ...(gw ? { Gateway: gw } : {}) }] };
    if (gw) out['network_gateway'] = gw;
  }
  const fallback = subnet ? `bosh-${subnet.replace('/', '-')}` : 'bosh-dynamic';
  out['network'] = typeof cpName === 'string' && cpName ? cpName : fallback;
  return out;
}

/** cloud_properties.ports (the Docker backend's forms) as `-p` flags and as Engine API objects. */
export function containerPortParams(ports: unknown): Params {
  if (ports === undefined || ports === null) return { port_flags: [], exposed_ports: {}, port_bindings: {} };
  if (!Array.isArray(ports)) throw new CloudError('create_vm: cloud_properties.ports must be a list');
  let specs;
  try {
    specs = parsePorts(ports);
  } catch (e) {
    throw new CloudError(`create_vm: cloud_properties.ports: ${(e as Error).message}`);
  }
  const c = portConfig(specs);
  const flags = specs.flatMap((s) => ['-p', s.binding ? `${s.binding.hostIp.includes(':') ? `[${s.binding.hostIp}]` : s.binding.hostIp}${s.binding.hostIp ? ':' : ''}${s.binding.hostPort ?? ''}:${s.container}/${s.protocol}` : `${s.container}/${s.protocol}`]);
  return { port_flags: flags, exposed_ports: c.ExposedPorts, port_bindings: c.PortBindings };
}
