/**
 * Disks where the CPI cannot mount on the Docker host: it runs as a non-root user (as the
 * Director runs CPIs as vcap). With host propagation (systemd hosts, simulated here by a shared
 * mount over the state dir) a helper container mounts disks live; without it, attach recreates
 * the container and everything that matters survives.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { docker, execIn, inspect } from '../helpers/docker';
import { dockerUser, Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const user = dockerUser();
const hint = (disk: string) => `/warden-cpi-dev/${disk}`;
const started = async (vm: string) => ((await inspect('container', vm)).State.StartedAt as string);
const containerId = async (vm: string) => (await docker('ps', '-aq', '--no-trunc', '--filter', `label=bosh.cpi.vm-cid=${vm}`)).trim();

async function persistent(vm: string): Promise<Record<string, string>> {
  return JSON.parse(await execIn(await containerId(vm), 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent;
}

describe('recreate mode (no live path)', () => {
  const lab = new Lab('disks-recreate', SUBNETS.disks);
  let stemcell: string;
  beforeAll(async () => {
    lab.runAs(user);
    stemcell = await lab.stemcell('runit');
  });
  afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

  it('recreates the container with the disk, keeping IPs, networks, /var/vcap/data and the agent\'s files', async () => {
    const dyn = `dyn-${lab.runId}`;
    const vm = await lab.createVm(stemcell, { default: lab.manual(10, 10), extra: { type: 'dynamic', cloud_properties: { name: dyn } } });
    let c = await inspect('container', vm.cid);
    expect(c.Config.Labels['bosh.cpi.disk-mode']).toBe('recreate');
    await execIn(vm.cid, [
      'echo eph > /var/vcap/data/marker',
      'echo \'{"trusted_certs":"x"}\' > /var/vcap/bosh/update_settings.json',
      'mkdir -p /var/vcap/instance/dns && echo \'{"records":[]}\' > /var/vcap/instance/dns/records.json',
    ].join(' && '));

    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    expect((await inspect('volume', disk)).Labels['bosh.cpi.backing']).toBe('directory');
    expect(await lab.ok('attach_disk', [vm.cid, disk])).toBe(hint(disk));
    const id = await containerId(vm.cid);
    c = await inspect('container', id);
    expect(c.Id).not.toBe(vm.cid); // a new container…
    expect(c.Name).toBe(`/${vm.cid}`); // …with the same name,
    expect(c.NetworkSettings.Networks[`bosh-10.${lab.octet}.10.0-24`].IPAddress).toBe(lab.ip(10, 10)); // the same static IP,
    expect(Object.keys(c.NetworkSettings.Networks).sort()).toEqual([`bosh-10.${lab.octet}.10.0-24`, dyn].sort()); // every network,
    expect(await execIn(id, 'cat /var/vcap/data/marker')).toBe('eph'); // the ephemeral disk,
    expect(await execIn(id, 'cat /var/vcap/bosh/update_settings.json')).toBe('{"trusted_certs":"x"}'); // the agent's files
    expect(await execIn(id, 'cat /var/vcap/instance/dns/records.json')).toBe('{"records":[]}');
    expect(await persistent(vm.cid)).toEqual({ [disk]: hint(disk) });
    const inside = JSON.parse(await execIn(id, 'cat /var/vcap/bosh/warden-cpi-agent-env.json'));
    expect(inside.networks.extra.ip).toBe(c.NetworkSettings.Networks[dyn].IPAddress);
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([disk]);
    await execIn(id, `echo data > ${hint(disk)}/f`);

    await lab.ok('detach_disk', [vm.cid, disk]);
    const after = await containerId(vm.cid);
    expect(await execIn(after, `ls ${hint(disk)} 2>&1 || true`)).toMatch(/No such file/);
    expect(await execIn(after, 'cat /var/vcap/data/marker')).toBe('eph');
    expect(await persistent(vm.cid)).toEqual({});
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([]);

    // The data went with the disk.
    const other = await lab.createVm(stemcell, { default: lab.manual(10, 11) });
    await lab.ok('attach_disk', [other.cid, disk]);
    expect(await execIn(await containerId(other.cid), `cat ${hint(disk)}/f`)).toBe('data');
    const inUse = await lab.call('delete_disk', [disk]);
    expect(inUse.response.error?.message).toBe(`delete_disk: disk ${disk} is attached to VM ${other.cid}; detach it first`);

    // What needs host mounts says so instead of pretending.
    const resize = await lab.call('resize_disk', [disk, 32]);
    expect(resize.response.error?.type).toBe('Bosh::Clouds::NotSupported');
    const snap = await lab.call('snapshot_disk', [disk, {}]);
    expect(snap.response.error?.type).toBe('Bosh::Clouds::NotSupported');

    await lab.ok('delete_vm', [other.cid]);
    expect(await lab.ok('has_disk', [disk])).toBe(true);
    await lab.ok('delete_disk', [disk]);
    await lab.ok('delete_vm', [vm.cid]);
  });
});

describe('helper mode (host propagation, no root)', () => {
  const lab = new Lab('disks-helper', SUBNETS.disks);
  let stemcell: string;
  let shared: string;
  beforeAll(async () => {
    // A systemd host's / is a shared mount; here the state directory gets one of its own.
    shared = path.dirname(lab.stateDir);
    execFileSync('mount', ['--bind', shared, shared]);
    execFileSync('mount', ['--make-shared', shared]);
    lab.runAs(user);
    stemcell = await lab.stemcell('runit');
  });
  afterAll(async () => {
    expect(await lab.finish()).toEqual(NOTHING_LEFT);
    execFileSync('umount', ['-R', shared]);
  });

  it('mounts disks live through a helper container', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(11, 10) });
    expect((await inspect('container', vm.cid)).Config.Labels['bosh.cpi.disk-mode']).toBe('helper');
    const before = await started(vm.cid);
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    expect(await lab.ok('attach_disk', [vm.cid, disk])).toBe(hint(disk));
    expect(await started(vm.cid)).toBe(before);
    await execIn(vm.cid, `echo live > ${hint(disk)}/f`);
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([disk]);
    expect(await persistent(vm.cid)).toEqual({ [disk]: hint(disk) });
    await lab.ok('detach_disk', [vm.cid, disk]);
    expect(await execIn(vm.cid, 'ls /warden-cpi-dev')).toBe('');
    expect(await started(vm.cid)).toBe(before);
    // Deleting a VM with the disk attached unmounts it through the helper; the data stays.
    await lab.ok('attach_disk', [vm.cid, disk]);
    await lab.ok('delete_vm', [vm.cid]);
    const v = await inspect('volume', disk);
    expect(execFileSync('cat', [path.join(v.Mountpoint, 'f')], { encoding: 'utf8' }).trim()).toBe('live');
    await lab.ok('delete_disk', [disk]);
  });
});
