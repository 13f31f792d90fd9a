/**
 * The VM lifecycle through bin/cpi, checking the engine after each call: containers, labels,
 * mounts, limits, addresses, and the settings file as the agent inside reads it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupValue, containerOf, docker, execIn, exists, freePort, inspect, TEST_LABEL } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';
import { directorEnv, SECRETS } from '../helpers/secrets';

const lab = new Lab('lifecycle', SUBNETS.lifecycle);
let stemcell: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
});
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

const ENV = { ...directorEnv({ group: 'dir-dep-web', groups: ['dir', 'dep', 'web'], tags: { team: 'infra', deployment: 'dep' } }), persistent_disk_fs: 'ext4' };

async function settingsInside(container: string, file = '/var/vcap/bosh/warden-cpi-agent-env.json'): Promise<Record<string, any>> {
  return JSON.parse(await execIn(container, `cat ${file}`));
}

describe('create_vm', () => {
  it('creates a container with its settings file, ephemeral volume and a static IP', async () => {
    const networks = { default: lab.manual(1, 10) };
    const [cid, nets] = await lab.ok<[string, Record<string, any>]>('create_vm', ['agent-lifecycle-1', stemcell, {}, networks, [], ENV]);
    expect(cid).toMatch(/^c-[0-9a-f-]{36}$/);
    expect(nets).toEqual({ default: { ...networks.default } });

    const c = await inspect('container', cid);
    expect(c.Name).toBe(`/${cid}`);
    expect(c.State.Running).toBe(true);
    expect(c.Config.Labels).toMatchObject({
      'bosh.cpi.managed': 'true',
      'bosh.cpi.vm-cid': cid,
      'bosh.cpi.agent-id': 'agent-lifecycle-1',
      'bosh.cpi.stemcell': stemcell,
      'bosh.cpi.init': 'runit',
      'bosh.tag.team': 'infra',
      'bosh.tag.deployment': 'dep',
      [TEST_LABEL]: lab.runId,
    });
    expect(c.HostConfig.Privileged).toBe(false);
    const mounts = Object.fromEntries((c.Mounts as Array<{ Destination: string; Name?: string; Source: string; Type: string }>).map((m) => [m.Destination, m]));
    expect(mounts['/var/vcap/data']).toMatchObject({ Type: 'volume', Name: `vol-eph-${cid}` });
    expect(mounts['/var/vcap/bosh/warden-cpi-agent-env.json']).toMatchObject({ Type: 'bind', Source: path.join(lab.vmDir(cid), 'settings.json') });
    expect(mounts['/var/vcap/bosh/user_data.json']).toMatchObject({ Type: 'bind' });

    // The agent's view: the settings file, read inside the container at both paths.
    const s = await settingsInside(cid);
    expect(await settingsInside(cid, '/var/vcap/bosh/user_data.json')).toEqual(s);
    expect(s).toEqual({
      agent_id: 'agent-lifecycle-1',
      vm: { name: cid, id: cid },
      mbus: `https://mbus:${SECRETS.mbusPassword}@0.0.0.0:6868`,
      ntp: ['0.pool.ntp.org'],
      blobstore: { provider: 'dav', options: { endpoint: 'http://127.0.0.1:25250', user: 'agent', password: SECRETS.blobstorePassword } },
      networks: { default: { ...networks.default, mac: expect.stringMatching(/^02:42:/), preconfigured: true } },
      disks: { system: '', ephemeral: null, persistent: {} },
      env: ENV,
      // Written before the start and again with the MAC the engine gave: the second generation.
      bosh_cpi: { generation: 2 },
    });
    // The address really is the container's.
    expect(await execIn(cid, `ip -4 -o addr show | grep -c ' ${lab.ip(1, 10)}/24 '`)).toBe('1');
    await lab.ok('delete_vm', [cid]);
  });

  it('reports the address the engine assigned on a dynamic network, and joins several networks', async () => {
    const dynName = `bosh-dyn-${lab.runId}`;
    const networks = { static: lab.manual(2, 20), dyn: { type: 'dynamic', cloud_properties: { name: dynName } } };
    const vm = await lab.createVm(stemcell, networks);
    const c = await inspect('container', vm.cid);
    const attached = c.NetworkSettings.Networks;
    expect(Object.keys(attached).sort()).toEqual([`bosh-10.${lab.octet}.2.0-24`, dynName].sort());
    const dynIp = attached[dynName].IPAddress;
    expect(dynIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(vm.networks['dyn']).toMatchObject({ type: 'dynamic', ip: dynIp, gateway: attached[dynName].Gateway, netmask: expect.stringMatching(/^255\./) });
    expect(vm.networks['static']).toMatchObject({ ip: lab.ip(2, 20) });
    const s = await settingsInside(vm.cid);
    expect(s.networks.dyn).toMatchObject({ ip: dynIp, preconfigured: true, mac: attached[dynName].MacAddress });
    // The engine's DNS answers with the servers of the default network.
    expect(c.HostConfig.Dns).toEqual([lab.ip(2, 1)]);
    await lab.ok('delete_vm', [vm.cid]);
    // Networks the CPI created for it go with their last VM.
    expect(await exists('network', dynName)).toBe(false);
    expect(await exists('network', `bosh-10.${lab.octet}.2.0-24`)).toBe(false);
  });

  it('applies CPU, memory and pids limits through cgroups', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(3, 30) }, { cpus: 0.5, memory: 96, PidsLimit: 123 });
    const c = await inspect('container', vm.cid);
    expect(c.HostConfig.NanoCpus).toBe(500000000);
    expect(c.HostConfig.Memory).toBe(96 * 1024 * 1024);
    expect(cgroupValue(c.Id, 'memory/memory.limit_in_bytes', 'memory.max')).toBe(String(96 * 1024 * 1024));
    expect(cgroupValue(c.Id, 'pids/pids.max', 'pids.max')).toBe('123');
    const quota = cgroupValue(c.Id, 'cpu/cpu.cfs_quota_us', 'cpu.max');
    expect(quota.split(' ')[0]).toBe('50000');
    await lab.ok('delete_vm', [vm.cid]);
  });

  it('publishes ports, e.g. the agent on 127.0.0.1 only', async () => {
    const port = await freePort();
    const vm = await lab.createVm(stemcell, { default: lab.manual(4, 40) }, { ports: [`127.0.0.1:${port}:6868/tcp`, '22/tcp'] });
    const bindings = (await inspect('container', vm.cid)).NetworkSettings.Ports;
    expect(bindings['6868/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(port) }]);
    expect(Number(bindings['22/tcp'][0].HostPort)).toBeGreaterThan(0);
    await lab.ok('delete_vm', [vm.cid]);
  });

  it('answers a v1 caller with the CID alone', async () => {
    const run = await lab.call('create_vm', ['agent-v1', stemcell, {}, { default: lab.manual(5, 50) }, [], {}], { api_version: 1 });
    expect(typeof run.response.result).toBe('string');
    await lab.ok('delete_vm', [run.response.result]);
  });
});

describe('has_vm, reboot_vm, set_vm_metadata, delete_vm', () => {
  it('carries a VM through its life', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(6, 60) }, {}, ENV);
    expect(await lab.ok('has_vm', [vm.cid])).toBe(true);

    // reboot_vm is a real restart: new start time, /var/vcap/data and settings kept.
    const before = await inspect('container', vm.cid);
    await execIn(vm.cid, 'echo kept > /var/vcap/data/marker');
    await lab.ok('reboot_vm', [vm.cid]);
    const after = await inspect('container', vm.cid);
    expect(after.State.StartedAt).not.toBe(before.State.StartedAt);
    expect(after.State.Running).toBe(true);
    expect(await execIn(vm.cid, 'cat /var/vcap/data/marker')).toBe('kept');
    expect((await execIn(vm.cid, 'cat /var/vcap/data/sys/boots')).split('\n')).toHaveLength(2);
    expect((await settingsInside(vm.cid)).agent_id).toMatch(/^agent-/);

    // set_vm_metadata: a readable name in `docker ps`, the metadata in the state dir.
    const md = { director: 'd', deployment: 'redis', instance_group: 'redis', job: 'redis', index: '0', name: 'redis/abc', id: 'abc', created_at: '2026-01-01T00:00:00Z' };
    await lab.ok('set_vm_metadata', [vm.cid, md]);
    const id = await containerOf(vm.cid);
    expect((await inspect('container', id)).Name).toBe(`/redis_redis_0_${vm.cid}`);
    expect(await docker('ps', '--filter', `label=bosh.cpi.vm-cid=${vm.cid}`, '--format', '{{.Names}}')).toBe(`redis_redis_0_${vm.cid}`);
    expect(JSON.parse(fs.readFileSync(path.join(lab.vmDir(vm.cid), 'metadata.json'), 'utf8'))).toEqual(md);
    // Every CID still resolves after the rename.
    expect(await lab.ok('has_vm', [vm.cid])).toBe(true);
    await lab.ok('reboot_vm', [vm.cid]);
    await lab.ok('set_vm_metadata', [vm.cid, { ...md, index: '1' }]);
    expect((await inspect('container', id)).Name).toBe(`/redis_redis_1_${vm.cid}`);

    await lab.ok('delete_vm', [vm.cid]);
    expect(await exists('container', id)).toBe(false);
    expect(await exists('volume', `vol-eph-${vm.cid}`)).toBe(false);
    expect(fs.existsSync(lab.vmDir(vm.cid))).toBe(false);
    expect(await lab.ok('has_vm', [vm.cid])).toBe(false);
    // Repeated and unknown deletes succeed.
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_vm', ['c-00000000-0000-4000-8000-000000000000']);
  });

  it('answers VMNotFound where a VM must exist', async () => {
    for (const method of ['reboot_vm', 'set_vm_metadata']) {
      const run = await lab.call(method, method === 'reboot_vm' ? ['c-missing'] : ['c-missing', { a: 'b' }]);
      expect(run.response.error).toEqual({ type: 'Bosh::Clouds::VMNotFound', message: "VM 'c-missing' not found", ok_to_retry: false });
    }
    expect(await lab.ok('has_vm', ['../../etc/passwd'])).toBe(false);
  });

  it('never mistakes a container it did not create for a VM', async () => {
    const name = `not-a-vm-${lab.runId}`;
    await docker('run', '-d', '--name', name, '--label', `${TEST_LABEL}=${lab.runId}`, stemcell, '/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done');
    expect(await lab.ok('has_vm', [name])).toBe(false);
    await lab.ok('delete_vm', [name]);
    expect((await inspect('container', name)).State.Running).toBe(true);
    await docker('rm', '-f', name);
  });

  it('keeps a network it did not create', async () => {
    const name = `preexisting-${lab.runId}`;
    await docker('network', 'create', '--label', `${TEST_LABEL}=${lab.runId}`, '--subnet', `10.${lab.octet}.7.0/24`, name);
    const vm = await lab.createVm(stemcell, { default: lab.manual(7, 70, { cloud_properties: { name } }) });
    await lab.ok('delete_vm', [vm.cid]);
    expect(await exists('network', name)).toBe(true);
    await docker('network', 'rm', name);
  });
});

describe('calculate_vm_cloud_properties', () => {
  it('turns vm_resources into cloud_properties that create_vm honours', async () => {
    const cp = await lab.ok<Record<string, number>>('calculate_vm_cloud_properties', [{ cpu: 1, ram: 80, ephemeral_disk_size: 1024 }]);
    expect(cp).toEqual({ cpus: 1, memory: 80, ephemeral_disk: 1024 });
    const vm = await lab.createVm(stemcell, { default: lab.manual(8, 80) }, cp);
    const c = await inspect('container', vm.cid);
    expect(c.HostConfig.NanoCpus).toBe(1e9);
    expect(c.HostConfig.Memory).toBe(80 * 1024 * 1024);
    await lab.ok('delete_vm', [vm.cid]);
  });

  it('says when nothing fits', async () => {
    const run = await lab.call('calculate_vm_cloud_properties', [{ cpu: 4096, ram: 1, ephemeral_disk_size: 1 }]);
    expect(run.response.error?.type).toBe('Bosh::Clouds::CloudError');
    expect(run.response.error?.message).toMatch(/^no VM type fits: 4096 CPUs requested, the Docker host has \d+$/);
  });
});
