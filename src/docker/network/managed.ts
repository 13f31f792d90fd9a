/**
 * create_network / delete_network: networks the Director manages itself
 * (director.networks.enable_cpi_management). Each is a Docker network with the subnet the
 * Director chose; its CID is the Docker network's name.
 */
import type { CreateNetworkResult } from '../../cpi/backend';
import type { NetworkDefinition } from '../../cpi/schemas';
import { CloudError, NotSupported } from '../../rpc/errors';
import type { DockerContext } from '../context';
import { isEngineError, seg } from '../engine/client';
import type { NetworkInspect } from '../engine/types';
import { L } from '../labels';
import { createDockerNetwork, inspectNetwork } from './docker-networks';
import { contains, parseCidr } from './ipam';

function firstSubnet(n: NetworkInspect): { range: string; gateway: string } {
  const c = n.IPAM?.Config?.[0];
  return { range: c?.Subnet ?? '', gateway: c?.Gateway ?? '' };
}

export async function createNetwork(ctx: DockerContext, def: NetworkDefinition): Promise<CreateNetworkResult> {
  if (def.type === 'vip') throw new NotSupported('create_network: vip networks are not supported by the Docker CPI');
  const cp = def.cloud_properties ?? {};
  const suffix = () => (require('node:crypto') as typeof import('node:crypto')).randomBytes(4).toString('hex');
  const name = typeof cp['name'] === 'string' && cp['name'] ? cp['name'] : `bosh-net-${suffix()}`;
  const driver = typeof cp['driver'] === 'string' ? cp['driver'] : 'bridge';
  let range: string | undefined;
  if (def.type === 'manual' && def.range) {
    try {
      range = parseCidr(def.range).cidr;
    } catch (e) {
      throw new CloudError(`create_network: range ${(e as Error).message}`);
    }
    if (def.gateway && !contains(parseCidr(range), def.gateway)) throw new CloudError(`create_network: gateway ${def.gateway} is outside ${range}`);
  }

  const existing = await inspectNetwork(ctx, name);
  if (existing) {
    if (typeof cp['driver'] === 'string' && existing.Driver !== driver) throw new CloudError(`create_network: Docker network ${name} already exists with driver ${existing.Driver}, not ${driver}`);
    const have = firstSubnet(existing);
    if (range && have.range !== range) throw new CloudError(`create_network: Docker network ${name} already exists with subnet ${have.range || 'none'}, not ${range}`);
    return { id: existing.Name, range: have.range, gateway: have.gateway, reserved: [], cloudProperties: { ...cp, name } };
  }
  const r = await createDockerNetwork(ctx, name, { driver, enableIpv6: cp['enable_ipv6'] === true || (range?.includes(':') ?? false), subnet: range, gateway: def.gateway }, 'director');
  if (r.conflict) throw new CloudError(`create_network: ${range ?? 'the subnet'} cannot be used: ${r.conflict}`);
  const n = await inspectNetwork(ctx, name);
  if (!n) throw new CloudError(`create_network: Docker network ${name} vanished right after it was created`, { okToRetry: true });
  const have = firstSubnet(n);
  return { id: n.Name, range: have.range, gateway: have.gateway, reserved: [], cloudProperties: { ...cp, name } };
}

export async function deleteNetwork(ctx: DockerContext, id: string): Promise<void> {
  const n = await inspectNetwork(ctx, id);
  if (!n) return;
  if (n.Labels?.[L.managed] !== 'true') throw new CloudError(`delete_network: Docker network ${n.Name} was not created by the CPI; leaving it alone`);
  const users = Object.values(n.Containers ?? {}).map((c) => c.Name);
  if (users.length) throw new CloudError(`delete_network: Docker network ${n.Name} is still used by ${users.join(', ')}`);
  try {
    await ctx.engine.request('DELETE', `/networks/${seg(n.Id)}`);
  } catch (e) {
    if (isEngineError(e) && /in use by task/i.test(e.engineMessage)) throw new CloudError(`delete_network: Swarm overlay ${n.Name} is still used by a container on another Swarm node`);
    if (!(isEngineError(e) && e.statusCode === 404)) throw e;
  }
  ctx.log.debug('deleted network', { name: n.Name });
}
