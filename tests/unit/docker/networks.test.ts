import { contains, netmaskOf, parseCidr, prefixOf, subnetOf } from '../../../src/docker/network/ipam';
import { dnsServers, planNetworks } from '../../../src/docker/network/plan';
import { agentNetworks, observedNetworks, resultNetworks } from '../../../src/docker/network/results';

describe('address arithmetic', () => {
  it('derives subnets for IPv4 and IPv6', () => {
    expect(subnetOf('10.244.0.17', 24).cidr).toBe('10.244.0.0/24');
    expect(subnetOf('10.245.3.4', 16).cidr).toBe('10.245.0.0/16');
    expect(subnetOf('fd00:1:2::17', 64).cidr).toBe('fd00:1:2::/64');
    expect(prefixOf('255.255.255.0', 4)).toBe(24);
    expect(prefixOf('255.255.240.0', 4)).toBe(20);
    expect(prefixOf('24', 4)).toBe(24);
    expect(netmaskOf(20, 4)).toBe('255.255.240.0');
    expect(() => prefixOf('255.0.255.0', 4)).toThrow('not contiguous');
    expect(contains(parseCidr('10.245.0.0/16'), '10.245.7.9')).toBe(true);
    expect(contains(parseCidr('10.245.0.0/16'), '10.246.0.1')).toBe(false);
    expect(contains(parseCidr('fd00::/64'), 'fd00::5')).toBe(true);
  });
});

describe('network planning', () => {
  const manual = { type: 'manual' as const, ip: '10.244.0.10', netmask: '255.255.255.0', gateway: '10.244.0.1', dns: ['8.8.8.8'], default: ['dns', 'gateway'], cloud_properties: {} };

  it('names manual networks by cloud_properties.name or after the subnet', () => {
    expect(planNetworks({ a: manual })[0]).toMatchObject({ docker: 'bosh-10.244.0.0-24', named: false, type: 'manual', ip: '10.244.0.10' });
    expect(planNetworks({ a: { ...manual, cloud_properties: { name: 'mynet' } } })[0]).toMatchObject({ docker: 'mynet', named: true });
  });

  it('records whether the manifest named a driver (an existing network must then have it)', () => {
    expect(planNetworks({ a: manual })[0]).toMatchObject({ driver: 'bridge', driverGiven: false });
    expect(planNetworks({ a: { ...manual, cloud_properties: { name: 'ov', driver: 'overlay' } } })[0]).toMatchObject({ driver: 'overlay', driverGiven: true });
    expect(planNetworks({ d: { type: 'dynamic', cloud_properties: { name: 'ov', driver: 'overlay' } } })[0]).toMatchObject({ driver: 'overlay', driverGiven: true });
  });

  it('maps dynamic networks to bosh-dynamic unless named', () => {
    expect(planNetworks({ d: { type: 'dynamic', cloud_properties: {} } })[0]).toMatchObject({ docker: 'bosh-dynamic', type: 'dynamic' });
    expect(planNetworks({ d: { type: 'dynamic', cloud_properties: { name: 'x' } } })[0]).toMatchObject({ docker: 'x' });
  });

  it('puts the network that is default for the gateway first', () => {
    const plans = planNetworks({ other: { type: 'dynamic', cloud_properties: { name: 'o' } }, main: manual });
    expect(plans.map((p) => p.boshName)).toEqual(['main', 'other']);
    expect(dnsServers(plans)).toEqual(['8.8.8.8']);
  });

  it.each([
    [{ v: { type: 'vip', ip: '1.2.3.4' } }, "network 'v': vip networks are not supported"],
    [{ m: { type: 'manual', netmask: '255.255.255.0' } }, "network 'm': a manual network needs an ip"],
    [{ m: { type: 'manual', ip: '10.0.0.5' } }, 'needs a netmask'],
    [{ m: { type: 'manual', ip: 'ten', netmask: '255.0.0.0' } }, "'ten' is not an IP address"],
    [{ m: { ...manual, gateway: '10.9.9.1' } }, 'gateway 10.9.9.1 is outside the subnet 10.244.0.0/24'],
    [{ a: { ...manual }, b: { ...manual, ip: '10.244.0.11' } }, 'a container joins a network once'],
    [{ m: { ...manual, cloud_properties: { name: 'bad name' } } }, 'must be a Docker network name'],
  ])('refuses %j', (networks, msg) => {
    expect(() => planNetworks(networks as never)).toThrow(msg);
  });

  it('fills in the addresses the engine assigned and marks networks preconfigured for the agent', () => {
    const plans = planNetworks({ m: manual, d: { type: 'dynamic', cloud_properties: { name: 'dyn' } } });
    const container = {
      NetworkSettings: {
        Networks: {
          'bosh-10.244.0.0-24': { IPAddress: '10.244.0.10', IPPrefixLen: 24, Gateway: '10.244.0.1', MacAddress: '02:42:0a' },
          dyn: { IPAddress: '172.20.0.5', IPPrefixLen: 16, Gateway: '172.20.0.1', MacAddress: '02:42:ac' },
        },
      },
    } as never;
    const observed = observedNetworks(plans, container);
    expect(resultNetworks(observed)).toEqual({
      m: { ...manual },
      d: { type: 'dynamic', cloud_properties: { name: 'dyn' }, ip: '172.20.0.5', netmask: '255.255.0.0', gateway: '172.20.0.1' },
    });
    const agent = agentNetworks(observed);
    expect(agent['d']).toMatchObject({ ip: '172.20.0.5', mac: '02:42:ac', preconfigured: true, default: [], dns: [] });
    expect(agent['m']).toMatchObject({ mac: '02:42:0a', preconfigured: true });
  });
});
