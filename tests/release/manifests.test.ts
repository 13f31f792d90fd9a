/**
 * manifests/: the ops files apply to a bosh.yml-shaped manifest and compose with the ops files
 * written for the Go Docker CPI; the create-env example exposes the agent on 127.0.0.1 only; the
 * cloud-configs are complete; every docker_cpi property block in them renders into a
 * configuration the CPI accepts, and so does each cpi-config entry laid over it as a context.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../src/config/load';
import { parseCidr } from '../../src/docker/network/ipam';
import { planNetworks } from '../../src/docker/network/plan';
import type { Config } from '../../src/config/schema';
import { RELEASE_NAME } from '../../scripts/release/layout';
import { ROOT } from '../helpers/cpi';
import { BOSH_YML, VARS } from './bosh-yml';
import { applyOps, get, type Op } from './go-patch';
import { interpolate, jobSpec, readYaml, removeTmpDirs, renderJob } from './helpers';

afterAll(removeTmpDirs);

const MANIFESTS = path.join(ROOT, 'manifests');
type Obj = Record<string, unknown>;

/** The CPI configuration a docker_cpi property block renders to. */
function configOf(properties: Obj): Config {
  const dir = renderJob({ docker_cpi: properties });
  return loadConfig({ file: path.join(dir, 'config', 'cpi.json'), env: {} }).config;
}

describe('manifests/bosh-deployment-cpi.yml', () => {
  const ops = readYaml<Op[]>(path.join(MANIFESTS, 'bosh-deployment-cpi.yml'));
  const manifest = interpolate(applyOps(BOSH_YML, ops), VARS) as Obj;

  test('adds the release and makes docker_cpi the CPI of create-env and of the Director', () => {
    expect(get(manifest, `/releases/name=${RELEASE_NAME}`)).toEqual({ name: RELEASE_NAME, url: 'file:///tmp/bosh-container-cpi.tgz' });
    expect(get(manifest, '/cloud_provider/template')).toEqual({ name: 'docker_cpi', release: RELEASE_NAME });
    expect(get(manifest, '/instance_groups/name=bosh/properties/director/cpi_job')).toBe('docker_cpi');
    expect(get(manifest, '/instance_groups/name=bosh/jobs/name=docker_cpi')).toEqual({ name: 'docker_cpi', release: RELEASE_NAME });
    expect(get(manifest, '/resource_pools/name=vms/stemcell/url')).toMatch(/warden-boshlite-ubuntu-noble\.tgz$/);
    expect(get(manifest, '/networks/name=default/subnets/0/cloud_properties')).toEqual({ name: 'bosh' });
    expect(get(manifest, '/resource_pools/name=vms/cloud_properties/ports')).toEqual(expect.arrayContaining(['6868/tcp', '25555/tcp', '4222/tcp', '25250/tcp']));
  });

  test('names only jobs and releases that exist', () => {
    const jobs = get(manifest, '/instance_groups/name=bosh/jobs') as Array<{ name: string; release: string }>;
    const releases = (manifest['releases'] as Array<{ name: string }>).map((r) => r.name);
    for (const j of jobs) expect(releases).toContain(j.release);
    expect(jobSpec().name).toBe('docker_cpi');
  });

  test('renders both docker_cpi property blocks into valid CPI configurations', () => {
    const director = configOf(get(manifest, '/instance_groups/name=bosh/properties/docker_cpi') as Obj);
    expect(director.agent.mbus).toBe('nats://10.245.0.10:4222');
    expect(director.docker).toMatchObject({ host: 'tcp://192.0.2.10:4243', tls: VARS['docker_tls'] });
    // No forced start mode: each stemcell's init (systemd for noble, runit for jammy) is detected.
    expect(director.start_containers_with_systemd).toBe(false);
    const createEnv = configOf(get(manifest, '/cloud_provider/properties/docker_cpi') as Obj);
    expect(createEnv.agent.mbus).toBe('https://mbus:mbus-password@0.0.0.0:6868');
    expect(createEnv.docker.tls).toEqual(VARS['docker_tls']);
    expect(createEnv.start_containers_with_systemd).toBe(false);
  });

  test("keeps the paths the Go CPI's docker/unix-sock.yml ops file changes", () => {
    // That ops file replaces the Director's docker host and removes both tls blocks; go-patch
    // fails on a missing path, so these must exist for `-o docker/unix-sock.yml` to work.
    const unixSock: Op[] = [
      { type: 'replace', path: '/resource_pools/name=vms/cloud_properties/mounts?/-', value: { type: 'bind', source: '((docker_host))', target: '/var/run/docker.sock' } },
      { type: 'replace', path: '/instance_groups/name=bosh/properties/docker_cpi/docker/host', value: 'unix:///var/run/docker.sock' },
      { type: 'replace', path: '/instance_groups/name=bosh/properties/director/cpi_additional_volumes?', value: [{ path: '/var/run/docker.sock', writable: true }] },
      { type: 'remove', path: '/instance_groups/name=bosh/properties/docker_cpi/docker/tls' },
      { type: 'remove', path: '/cloud_provider/properties/docker_cpi/docker/tls' },
    ];
    const both = interpolate(applyOps(applyOps(BOSH_YML, ops), unixSock), { ...VARS, docker_host: 'unix:///var/run/docker.sock' }) as Obj;
    const director = configOf(get(both, '/instance_groups/name=bosh/properties/docker_cpi') as Obj);
    expect(director.docker.host).toBe('unix:///var/run/docker.sock');
    expect(director.docker.tls ?? null).toBeNull();
    expect(configOf(get(both, '/cloud_provider/properties/docker_cpi') as Obj).docker.host).toBe('unix:///var/run/docker.sock');
  });
});

describe('manifests/create-env.yml', () => {
  const raw = readYaml<Obj>(path.join(MANIFESTS, 'create-env.yml'));
  const declared = new Set(((raw['variables'] as Array<{ name: string }>) ?? []).map((v) => v.name));
  const manifest = interpolate(raw, VARS);

  test('uses only variables it generates or that the README passes with -v', () => {
    const used = new Set([...JSON.stringify(raw).matchAll(/\(\(([^()]+)\)\)/g)].map((m) => (m[1] as string).split('.')[0] as string));
    const given = [...used].filter((v) => !declared.has(v)).sort();
    expect(given).toEqual(['cpi_release_tarball', 'docker_host', 'network']);
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const v of given) expect(readme).toContain(`-v ${v}=`);
  });

  test('is one VM with docker_cpi as the CPI, as bosh create-env requires', () => {
    expect(manifest['instance_groups']).toHaveLength(1);
    expect(get(manifest, '/instance_groups/0/instances')).toBe(1);
    expect(get(manifest, '/cloud_provider/template')).toEqual({ name: 'docker_cpi', release: RELEASE_NAME });
    expect(get(manifest, `/releases/name=${RELEASE_NAME}/url`)).toBe('file:///tmp/bosh-container-cpi.tgz');
    const ip = get(manifest, '/instance_groups/0/networks/0/static_ips/0') as string;
    expect(get(manifest, '/networks/name=default/subnets/0/static')).toContain(ip);
  });

  test("reaches the agent on 127.0.0.1:6868, published on the host's loopback only", () => {
    const mbus = new URL(get(manifest, '/cloud_provider/mbus') as string);
    expect([mbus.protocol, mbus.hostname, mbus.port]).toEqual(['https:', '127.0.0.1', '6868']);
    const ports = get(manifest, '/resource_pools/name=vms/cloud_properties/ports') as string[];
    expect(ports).toContain('127.0.0.1:6868:6868/tcp');
    // Every published port is bound to loopback: nothing listens on the host's other addresses.
    for (const p of ports) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+(\/tcp|\/udp)?$/);
    // The agent's certificate must be valid for the address the CLI dials.
    const ssl = (raw['variables'] as Array<{ name: string; options?: { alternative_names?: string[] } }>).find((v) => v.name === 'mbus_bootstrap_ssl');
    expect(ssl?.options?.alternative_names).toContain('127.0.0.1');
    expect(get(manifest, '/resource_pools/name=vms/cloud_properties')).toMatchObject({ cpus: 2, memory: 2048 });
  });

  test('its CPI properties render into a valid configuration with the agent listening on 6868', () => {
    const config = configOf(get(manifest, '/cloud_provider/properties/docker_cpi') as Obj);
    const agentMbus = new URL(config.agent.mbus as string);
    expect([agentMbus.hostname, agentMbus.port]).toEqual(['0.0.0.0', '6868']);
    expect(agentMbus.password).toBe(VARS['mbus_bootstrap_password']);
    expect(config.docker.host).toBe(VARS['docker_host']);
  });
});

describe('manifests/cloud-config.yml', () => {
  const cc = interpolate(readYaml<Obj>(path.join(MANIFESTS, 'cloud-config.yml')), VARS);

  test('has a manual network on a named Docker network', () => {
    const net = get(cc, '/networks/name=default') as Obj;
    expect(net['type']).toBe('manual');
    const subnet = get(net, '/subnets/0') as Obj;
    expect(subnet['cloud_properties']).toEqual({ name: 'bosh' });
    expect(subnet).toMatchObject({ range: expect.any(String), gateway: expect.any(String) });
  });

  test('sizes vm_types with cpus and memory in MiB, and disk_types in MiB', () => {
    const vmTypes = cc['vm_types'] as Array<{ name: string; cloud_properties: { cpus: number; memory: number } }>;
    expect(vmTypes.length).toBeGreaterThan(0);
    for (const t of vmTypes) {
      expect(Number.isInteger(t.cloud_properties.cpus)).toBe(true);
      // MiB, not bytes: the Go CPI's Memory counted bytes.
      expect(t.cloud_properties.memory).toBeGreaterThanOrEqual(256);
      expect(t.cloud_properties.memory).toBeLessThan(1 << 20);
    }
    for (const d of cc['disk_types'] as Array<{ disk_size: number }>) expect(d.disk_size).toBeGreaterThan(0);
  });

  test('compiles on a vm_type, network and az it defines', () => {
    const c = cc['compilation'] as { vm_type: string; network: string; az: string };
    expect(get(cc, `/vm_types/name=${c.vm_type}`)).toBeDefined();
    expect(get(cc, `/networks/name=${c.network}`)).toBeDefined();
    expect(get(cc, `/azs/name=${c.az}`)).toBeDefined();
  });
});

describe('many hosts: manifests/cpi-config.yml, cloud-config-many-hosts.yml, many-hosts.yml', () => {
  const engineVars: Obj = {};
  for (const z of [1, 2, 3]) {
    engineVars[`docker_z${z}_host`] = `tcp://192.0.2.${10 + z}:2376`;
    engineVars[`docker_z${z}_tls`] = { ...(VARS['docker_tls'] as Obj), certificate: `-----BEGIN CERTIFICATE-----\nZ${z}\n-----END CERTIFICATE-----\n` };
  }
  const cpiConfig = interpolate(readYaml<{ cpis: Array<{ name: string; type: string; properties: Obj }> }>(path.join(MANIFESTS, 'cpi-config.yml')), engineVars);
  const cc = interpolate(readYaml<Obj>(path.join(MANIFESTS, 'cloud-config-many-hosts.yml')), { overlay_network: 'bosh' });

  test('each cpi-config entry names this release\'s job and, as a call\'s context, selects its engine', () => {
    expect(cpiConfig.cpis.map((c) => c.name)).toEqual(['docker-z1', 'docker-z2', 'docker-z3']);
    // The Director runs /var/vcap/jobs/<type>_cpi/bin/cpi.
    for (const c of cpiConfig.cpis) expect(`${c.type}_cpi`).toBe(jobSpec().name);
    const file = path.join(renderJob({ docker_cpi: { agent: { mbus: 'nats://10.245.0.10:4222' } } }), 'config', 'cpi.json');
    cpiConfig.cpis.forEach((c, i) => {
      const loaded = loadConfig({ file, env: {}, context: { director_uuid: 'd', request_id: 'cpi-1', ...c.properties } });
      expect(loaded.ignoredContextKeys).toEqual([]);
      expect(loaded.config.docker).toMatchObject({ host: engineVars[`docker_z${i + 1}_host`], tls: engineVars[`docker_z${i + 1}_tls`] });
      expect(loaded.config.agent.mbus).toBe('nats://10.245.0.10:4222');
    });
  });

  test('the cloud-config puts each AZ on one of those CPIs, and every subnet on defined AZs', () => {
    const azs = cc['azs'] as Array<{ name: string; cpi: string }>;
    expect(azs.map((a) => a.cpi)).toEqual(cpiConfig.cpis.map((c) => c.name));
    const names = new Set(azs.map((a) => a.name));
    for (const n of cc['networks'] as Array<{ subnets: Array<{ az?: string; azs?: string[] }> }>) {
      for (const s of n.subnets) for (const az of s.azs ?? [s.az]) expect(names).toContain(az);
    }
    const c = cc['compilation'] as { vm_type: string; network: string; az: string };
    expect([get(cc, `/vm_types/name=${c.vm_type}`), get(cc, `/networks/name=${c.network}`), get(cc, `/azs/name=${c.az}`)]).not.toContain(undefined);
  });

  test('the default network is one subnet over every AZ on an overlay the CPI checks by driver', () => {
    const subnet = get(cc, '/networks/name=default/subnets/0') as { azs: string[]; range: string; gateway: string; cloud_properties: Obj; reserved: string[] };
    expect(subnet.azs).toEqual(['z1', 'z2', 'z3']);
    const [plan] = planNetworks({ default: { type: 'manual', ip: '10.245.0.40', netmask: '255.255.0.0', gateway: subnet.gateway, cloud_properties: subnet.cloud_properties } });
    expect(plan).toMatchObject({ docker: 'bosh', driver: 'overlay', driverGiven: true });
    // The Director's internal_ip of the README's create-env is reserved.
    expect(subnet.reserved).toEqual(['10.245.0.2-10.245.0.20']);
  });

  test('the routed network has one subnet per AZ, disjoint, each its own bridge on that AZ\'s engine', () => {
    const subnets = get(cc, '/networks/name=routed/subnets') as Array<{ az: string; range: string; gateway: string; cloud_properties: Obj }>;
    expect(subnets.map((s) => s.az)).toEqual(['z1', 'z2', 'z3']);
    const bridges = subnets.map((s) => {
      const [ip, prefix] = [s.gateway.replace(/\.1$/, '.10'), parseCidr(s.range).prefix];
      return planNetworks({ r: { type: 'manual', ip, netmask: String(prefix), gateway: s.gateway, cloud_properties: s.cloud_properties } })[0]?.docker;
    });
    expect(new Set(bridges).size).toBe(3);
    expect(bridges).toEqual(['bosh-10.246.1.0-24', 'bosh-10.246.2.0-24', 'bosh-10.246.3.0-24']);
  });

  test('many-hosts.yml puts the Director on the overlay, after bosh-deployment-cpi.yml', () => {
    const ops = [...readYaml<Op[]>(path.join(MANIFESTS, 'bosh-deployment-cpi.yml')), ...readYaml<Op[]>(path.join(MANIFESTS, 'many-hosts.yml'))];
    const manifest = interpolate(applyOps(BOSH_YML, ops), VARS) as Obj;
    expect(get(manifest, '/networks/name=default/subnets/0/cloud_properties')).toEqual({ name: 'bosh', driver: 'overlay' });
    const director = configOf(get(manifest, '/instance_groups/name=bosh/properties/docker_cpi') as Obj);
    expect(director.docker).toMatchObject({ host: VARS['docker_host'], tls: VARS['docker_tls'] });
    // Alone, it fails: it extends the network bosh-deployment-cpi.yml names.
    expect(() => applyOps(BOSH_YML, readYaml<Op[]>(path.join(MANIFESTS, 'many-hosts.yml')))).toThrow(/not found/);
  });
});

describe('go-patch as used by these tests', () => {
  test('fails on a path that does not exist, as bosh int does', () => {
    expect(() => applyOps(BOSH_YML, [{ type: 'remove', path: '/cloud_provider/properties/docker_cpi/docker/tls' }])).toThrow(/not found/);
    expect(() => applyOps(BOSH_YML, [{ type: 'replace', path: '/instance_groups/name=nope/jobs/-', value: {} }])).toThrow(/not found/);
  });
});
