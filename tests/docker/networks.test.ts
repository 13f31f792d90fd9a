/** Director-managed networks (create_network/delete_network) and the networks VMs join. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { call, type CpiRun } from '../helpers/cpi';
import { docker, exists, inspect, TEST_LABEL, testConfig } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const lab = new Lab('networks', SUBNETS.networks);
let stemcell: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
});
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

describe('create_network / delete_network', () => {
  it('creates a Docker network for a manual subnet that VMs join, and deletes it', async () => {
    const name = `managed-${lab.runId}`;
    const range = `10.${lab.octet}.1.0/24`;
    const r = await lab.ok<[string, Record<string, unknown>, Record<string, unknown>]>('create_network', [
      { type: 'manual', range, gateway: lab.ip(1, 1), netmask_bits: 24, cloud_properties: { name } },
    ]);
    expect(r).toEqual([name, { range, gateway: lab.ip(1, 1), reserved: [] }, { name }]);
    const n = await inspect('network', name);
    expect(n.IPAM.Config).toEqual([{ Subnet: range, Gateway: lab.ip(1, 1) }]);
    expect(n.Labels).toMatchObject({ 'bosh.cpi.managed': 'true', 'bosh.cpi.network-origin': 'director', [TEST_LABEL]: lab.runId });
    // Creating it again is success.
    expect((await lab.ok<unknown[]>('create_network', [{ type: 'manual', range, gateway: lab.ip(1, 1), cloud_properties: { name } }]))[0]).toBe(name);

    const vm = await lab.createVm(stemcell, { default: lab.manual(1, 10, { cloud_properties: { name } }) });
    const inUse = await lab.call('delete_network', [name]);
    expect(inUse.response.error?.message).toBe(`delete_network: Docker network ${name} is still used by ${vm.cid}`);
    await lab.ok('delete_vm', [vm.cid]);
    // A Director-managed network is not the VM's to remove.
    expect(await exists('network', name)).toBe(true);
    await lab.ok('delete_network', [name]);
    expect(await exists('network', name)).toBe(false);
    await lab.ok('delete_network', [name]);
  });

  it('names networks itself when cloud_properties do not', async () => {
    const [id, subnet] = await lab.ok<[string, { range: string }]>('create_network', [{ type: 'manual', range: `10.${lab.octet}.2.0/24`, cloud_properties: {} }]);
    expect(id).toMatch(/^bosh-net-[0-9a-f]{8}$/);
    expect(subnet.range).toBe(`10.${lab.octet}.2.0/24`);
    await lab.ok('delete_network', [id]);
  });

  it('refuses vip networks, and leaves networks it did not create alone', async () => {
    const vip = await lab.call('create_network', [{ type: 'vip', cloud_properties: {} }]);
    expect(vip.response.error?.type).toBe('Bosh::Clouds::NotSupported');
    const foreign = `foreign-${lab.runId}`;
    await docker('network', 'create', '--label', `${TEST_LABEL}=${lab.runId}`, foreign);
    const run = await lab.call('delete_network', [foreign]);
    expect(run.response.error?.message).toBe(`delete_network: Docker network ${foreign} was not created by the CPI; leaving it alone`);
    expect(await exists('network', foreign)).toBe(true);
    await docker('network', 'rm', foreign);
  });
});

describe('networks of VMs', () => {
  it('joins an existing network with the same subnet instead of creating another', async () => {
    const existing = `same-subnet-${lab.runId}`;
    await docker('network', 'create', '--label', `${TEST_LABEL}=${lab.runId}`, '--subnet', `10.${lab.octet}.3.0/24`, existing);
    const vm = await lab.createVm(stemcell, { default: lab.manual(3, 30) });
    expect(Object.keys((await inspect('container', vm.cid)).NetworkSettings.Networks)).toEqual([existing]);
    expect(await exists('network', `bosh-10.${lab.octet}.3.0-24`)).toBe(false);
    await lab.ok('delete_vm', [vm.cid]);
    expect(await exists('network', existing)).toBe(true);
    await docker('network', 'rm', existing);
  });

  it('says so when a named network does not hold the IP', async () => {
    const name = `other-subnet-${lab.runId}`;
    await docker('network', 'create', '--label', `${TEST_LABEL}=${lab.runId}`, '--subnet', `10.${lab.octet}.4.0/24`, name);
    const run = await lab.call('create_vm', ['agent-x', stemcell, {}, { default: lab.manual(5, 50, { cloud_properties: { name } }) }, [], {}]);
    expect(run.response.error).toEqual({
      type: 'Bosh::Clouds::VMCreationFailed',
      message: `network 'default': Docker network ${name} has subnet(s) 10.${lab.octet}.4.0/24, which do not contain ip ${lab.ip(5, 50)}`,
      ok_to_retry: false,
    });
    await docker('network', 'rm', name);
  });

  it('keeps an implicit network while another VM still uses it', async () => {
    const a = await lab.createVm(stemcell, { default: lab.manual(6, 10) });
    const b = await lab.createVm(stemcell, { default: lab.manual(6, 11) });
    const net = `bosh-10.${lab.octet}.6.0-24`;
    await lab.ok('delete_vm', [a.cid]);
    expect(await exists('network', net)).toBe(true);
    await lab.ok('delete_vm', [b.cid]);
    expect(await exists('network', net)).toBe(false);
  });

  /** create_vm calls on a new network, each with its config, paused at a failpoint and then released at once. */
  async function race(failpoint: string, configs: string[], third: number): Promise<CpiRun[]> {
    const gates = fs.mkdtempSync(path.join(os.tmpdir(), 'net-race-'));
    const runs = configs.map((config, i) => {
      const args = [`agent-race-${i}`, stemcell, {}, { default: lab.manual(third, 10 + i) }, [], {}];
      return call({ method: 'create_vm', arguments: args }, { args: ['-configPath', config], env: { BOSH_CPI_FAILPOINT: `${failpoint}:pause:${gates}/${i}` } });
    });
    const reached = () => configs.every((_, i) => fs.existsSync(`${gates}/${i}.reached`));
    for (let t = 0; t < 3000 && !reached(); t++) await new Promise((r) => setTimeout(r, 10));
    expect(reached()).toBe(true);
    const at = String(Date.now() + 300);
    configs.forEach((_, i) => fs.writeFileSync(`${gates}/${i}.release`, at));
    const done = await Promise.all(runs);
    expect(done.filter((r) => r.response.error).map((r) => r.response.error)).toEqual([]);
    const net = `bosh-10.${lab.octet}.${third}.0-24`;
    for (const r of done) expect(Object.keys((await inspect('container', (r.response.result as [string])[0])).NetworkSettings.Networks)).toEqual([net]);
    expect(done.filter((r) => r.stderr.includes('created Docker network'))).toHaveLength(1);
    const deletes = await Promise.all(done.map((r, i) => call({ method: 'delete_vm', arguments: [(r.response.result as [string])[0]] }, { args: ['-configPath', configs[i] as string] })));
    expect(deletes.filter((r) => r.response.error).map((r) => r.response.error)).toEqual([]);
    expect(await exists('network', net)).toBe(false);
    return done;
  }
  const losers = (runs: CpiRun[]) => runs.filter((r) => r.stderr.includes('another call created this Docker network first')).length;

  it('lets parallel create_vm calls of one CPI create a new network once: the others wait for the lock and find it', async () => {
    const runs = await race('network.before-lock', Array.from({ length: 6 }, () => lab.configFile), 7);
    expect(losers(runs)).toBe(0);
  });

  it('lets create_vm calls of several CPIs that race at the engine to create one network all join it', async () => {
    // Own state, so own locks: all six ask the engine at once; five are refused ("Pool overlaps").
    const runs = await race('network.before-create', Array.from({ length: 6 }, () => testConfig(lab.runId).file), 8);
    expect(losers(runs)).toBeGreaterThan(0);
  });
});
