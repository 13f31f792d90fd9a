/**
 * Each CPI call is its own process; the Director runs many at once. Parallel create_vm on one
 * stemcell and one (implicitly created) network, parallel create_disk + attach_disk and
 * parallel deletes all succeed; a contended static IP fails precisely; nothing is left.
 */
import { execIn, inspect, labelled } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const lab = new Lab('concurrency', SUBNETS.concurrency);
let stemcell: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
});
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

describe('parallel create_vm', () => {
  it('creates 20 VMs on one stemcell and one new network, attaches 10 new disks to 10 of them, all at once; then deletes everything at once', async () => {
    const started = Date.now();
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => lab.call('create_vm', [`agent-${i}`, stemcell, { memory: 64 }, { default: lab.manual(1, 10 + i) }, [], {}])));
    expect(runs.filter((r) => r.response.error).map((r) => r.response.error)).toEqual([]);
    const cids = runs.map((r) => (r.response.result as [string])[0]);
    expect(new Set(cids).size).toBe(20);
    const ips = await Promise.all(cids.map(async (cid) => (await inspect('container', cid)).NetworkSettings.Networks[`bosh-10.${lab.octet}.1.0-24`].IPAddress));
    expect(ips.sort()).toEqual(Array.from({ length: 20 }, (_, i) => lab.ip(1, 10 + i)).sort());

    // 10 create_disk + attach_disk pairs in parallel, each on a different VM.
    const pairs = await Promise.all(
      cids.slice(0, 10).map(async (vm) => {
        const disk = await lab.ok<string>('create_disk', [32, {}, vm]);
        const hint = await lab.ok<string>('attach_disk', [vm, disk]);
        return { vm, disk, hint };
      }),
    );
    for (const p of pairs) {
      expect(p.hint).toBe(`/warden-cpi-dev/${p.disk}`);
      expect(await lab.ok('get_disks', [p.vm])).toEqual([p.disk]);
    }
    await Promise.all(pairs.map((p) => execIn(p.vm, `echo ${p.disk} > ${p.hint}/owner`)));
    for (const p of pairs) expect(await execIn(p.vm, `cat ${p.hint}/owner`)).toBe(p.disk);

    // Parallel deletes: VMs with their disks still attached (the Director's delete-deployment), then the disks.
    const deletes = await Promise.all(cids.map((cid) => lab.call('delete_vm', [cid])));
    expect(deletes.filter((r) => r.response.error).map((r) => r.response.error)).toEqual([]);
    const diskDeletes = await Promise.all(pairs.map((p) => lab.call('delete_disk', [p.disk])));
    expect(diskDeletes.filter((r) => r.response.error).map((r) => r.response.error)).toEqual([]);
    const left = await labelled(lab.runId);
    expect({ containers: left.containers, volumes: left.volumes, networks: left.networks }).toEqual({ containers: [], volumes: [], networks: [] });
    process.stdout.write(`concurrency: 20 create_vm, 10 create_disk+attach_disk, 30 deletes in ${Date.now() - started} ms, 0 failures\n`);
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
