/**
 * Each CPI call is its own process; the Director runs many at once. Parallel create_vm on one
 * stemcell and one (implicitly created) network all succeed, and a contended static IP fails
 * precisely.
 */
import { inspect } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const lab = new Lab('concurrency', SUBNETS.concurrency);
let stemcell: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
});
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

describe('parallel create_vm', () => {
  it('creates 20 VMs on one stemcell and one new network at once, then deletes them at once', async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => lab.call('create_vm', [`agent-${i}`, stemcell, { memory: 64 }, { default: lab.manual(1, 10 + i) }, [], {}])));
    const failures = runs.filter((r) => r.response.error).map((r) => r.response.error);
    expect(failures).toEqual([]);
    const cids = runs.map((r) => (r.response.result as [string])[0]);
    expect(new Set(cids).size).toBe(20);
    const ips = await Promise.all(cids.map(async (cid) => (await inspect('container', cid)).NetworkSettings.Networks[`bosh-10.${lab.octet}.1.0-24`].IPAddress));
    expect(ips.sort()).toEqual(Array.from({ length: 20 }, (_, i) => lab.ip(1, 10 + i)).sort());
    const deletes = await Promise.all(cids.map((cid) => lab.call('delete_vm', [cid])));
    expect(deletes.filter((r) => r.response.error)).toEqual([]);
  });

  it('lets exactly one of two VMs contending for a static IP have it', async () => {
    const runs = await Promise.all([0, 1].map((i) => lab.call('create_vm', [`agent-ip-${i}`, stemcell, {}, { default: lab.manual(2, 20) }, [], {}])));
    const won = runs.filter((r) => !r.response.error);
    const lost = runs.filter((r) => r.response.error);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(lost[0]?.response.error?.message).toMatch(new RegExp(`${lab.ip(2, 20).replace(/\./g, '\\.')}.*(already used by container|already in use)`));
    await lab.ok('delete_vm', [(won[0]?.response.result as [string])[0]]);
  });
});
