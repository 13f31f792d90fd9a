/**
 * Persistent disks with the CPI on the Docker host as root (how these tests run): sized ext4
 * disks, attached live through mount propagation, real snapshots and resizes. Data safety is
 * checked from inside the VMs.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execIn, inspect } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const lab = new Lab('disks', SUBNETS.disks);
let stemcell: string;
let vmA: string;
let vmB: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
  const [a, b] = await Promise.all([lab.createVm(stemcell, { default: lab.manual(1, 10) }), lab.createVm(stemcell, { default: lab.manual(1, 11) })]);
  vmA = a.cid;
  vmB = b.cid;
});
afterAll(async () => {
  for (const vm of [vmA, vmB]) if (vm) await lab.ok('delete_vm', [vm]);
  // Nothing mounted under the state dir, no loop device on this run's files.
  expect(execFileSync('findmnt', ['-rno', 'TARGET'], { encoding: 'utf8' }).split('\n').filter((t) => t.startsWith(lab.stateDir))).toEqual([]);
  expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toContain(lab.runId);
  expect(await lab.finish()).toEqual(NOTHING_LEFT);
});

const startedAt = async (vm: string) => (await inspect('container', vm)).State.StartedAt as string;
const hint = (disk: string) => `/warden-cpi-dev/${disk}`;

async function settingsPersistent(vm: string): Promise<Record<string, string>> {
  return JSON.parse(await execIn(vm, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent;
}

describe('create_disk, has_disk, delete_disk', () => {
  it('makes a sized disk: a volume holding an ext4 image of that size', async () => {
    const disk = await lab.ok<string>('create_disk', [64, {}, vmA]);
    expect(disk).toMatch(/^vol-[0-9a-f-]{36}$/);
    const v = await inspect('volume', disk);
    expect(v.Labels).toMatchObject({ 'bosh.cpi.managed': 'true', 'bosh.cpi.kind': 'persistent', 'bosh.cpi.size-mib': '64', 'bosh.cpi.backing': 'image' });
    expect(fs.statSync(path.join(v.Mountpoint, 'disk.img')).size).toBe(64 * 1024 * 1024);
    expect(await lab.ok('has_disk', [disk])).toBe(true);
    await lab.ok('delete_disk', [disk]);
    expect(await lab.ok('has_disk', [disk])).toBe(false);
    await lab.ok('delete_disk', [disk]);
    expect(await lab.ok('has_disk', ['vol-00000000-0000-4000-8000-000000000000'])).toBe(false);
  });
});

describe('attach_disk / detach_disk', () => {
  it('attaches live: same container, same uptime, /var/vcap/data untouched; data follows the disk to another VM', async () => {
    const disk = await lab.ok<string>('create_disk', [64, {}, null]);
    await execIn(vmA, 'echo ephemeral-before > /var/vcap/data/marker');
    const before = await startedAt(vmA);

    expect(await lab.ok('attach_disk', [vmA, disk])).toBe(hint(disk));
    expect(await lab.ok('get_disks', [vmA])).toEqual([disk]);
    expect(await settingsPersistent(vmA)).toEqual({ [disk]: hint(disk) });
    await execIn(vmA, `echo precious > ${hint(disk)}/data.txt && sync`);
    // The disk has its size inside the VM.
    const df = await execIn(vmA, `df -k ${hint(disk)} | tail -1`);
    expect(Number(df.trim().split(/\s+/)[1])).toBeLessThanOrEqual(64 * 1024);

    await lab.ok('detach_disk', [vmA, disk]);
    expect(await execIn(vmA, `ls /warden-cpi-dev`)).toBe('');
    expect(await settingsPersistent(vmA)).toEqual({});
    expect(await lab.ok('get_disks', [vmA])).toEqual([]);
    expect(await startedAt(vmA)).toBe(before);
    expect(await execIn(vmA, 'cat /var/vcap/data/marker')).toBe('ephemeral-before');

    await lab.ok('attach_disk', [vmB, disk]);
    expect(await execIn(vmB, `cat ${hint(disk)}/data.txt`)).toBe('precious');
    await lab.ok('detach_disk', [vmB, disk]);
    await lab.ok('delete_disk', [disk]);
  });

  it('holds the size: writing past it fails inside the VM', async () => {
    const disk = await lab.ok<string>('create_disk', [16, {}, null]);
    await lab.ok('attach_disk', [vmA, disk]);
    const out = await execIn(vmA, `dd if=/dev/zero of=${hint(disk)}/big bs=1M count=64 2>&1; echo exit=$?`);
    expect(out).toMatch(/No space left on device/);
    await lab.ok('detach_disk', [vmA, disk]);
    await lab.ok('delete_disk', [disk]);
  });

  it('refuses a missing disk or VM before touching anything', async () => {
    const before = await startedAt(vmA);
    const missingDisk = await lab.call('attach_disk', [vmA, 'vol-00000000-0000-4000-8000-000000000000']);
    expect(missingDisk.response.error).toEqual({ type: 'Bosh::Clouds::DiskNotFound', message: "Disk 'vol-00000000-0000-4000-8000-000000000000' not found", ok_to_retry: false });
    expect(await startedAt(vmA)).toBe(before);
    expect((await inspect('container', vmA)).State.Running).toBe(true);

    const disk = await lab.ok<string>('create_disk', [16, {}, null]);
    const missingVm = await lab.call('attach_disk', ['c-00000000-0000-4000-8000-000000000000', disk]);
    expect(missingVm.response.error?.type).toBe('Bosh::Clouds::VMNotFound');
    expect(await lab.ok('has_disk', [disk])).toBe(true);
    await lab.ok('delete_disk', [disk]);
  });

  it('treats detaching what is not attached, or not there, as done', async () => {
    const disk = await lab.ok<string>('create_disk', [16, {}, null]);
    await lab.ok('detach_disk', [vmA, disk]);
    await lab.ok('detach_disk', [vmA, 'vol-00000000-0000-4000-8000-000000000000']);
    await lab.ok('detach_disk', ['c-00000000-0000-4000-8000-000000000000', disk]);
    await lab.ok('delete_disk', [disk]);
  });

  it('refuses to delete or double-attach an attached disk, with its data intact', async () => {
    const disk = await lab.ok<string>('create_disk', [16, {}, null]);
    await lab.ok('attach_disk', [vmA, disk]);
    await execIn(vmA, `echo keep > ${hint(disk)}/f`);
    const del = await lab.call('delete_disk', [disk]);
    expect(del.response.error?.message).toBe(`delete_disk: disk ${disk} is attached to VM ${vmA}; detach it first`);
    const twice = await lab.call('attach_disk', [vmB, disk]);
    expect(twice.response.error?.message).toBe(`disk ${disk} is attached to VM ${vmA}; detach it first`);
    expect(await execIn(vmA, `cat ${hint(disk)}/f`)).toBe('keep');
    await lab.ok('detach_disk', [vmA, disk]);
    await lab.ok('delete_disk', [disk]);
  });

  it('attaches disks to different VMs concurrently', async () => {
    const disks = await Promise.all([0, 1, 2, 3].map(() => lab.ok<string>('create_disk', [16, {}, null])));
    const vms = [vmA, vmB, vmA, vmB];
    const runs = await Promise.all(disks.map((d, i) => lab.call('attach_disk', [vms[i], d])));
    expect(runs.map((r) => r.response.error)).toEqual([null, null, null, null]);
    expect((await lab.ok<string[]>('get_disks', [vmA])).sort()).toEqual([disks[0], disks[2]].sort());
    expect((await lab.ok<string[]>('get_disks', [vmB])).sort()).toEqual([disks[1], disks[3]].sort());
    await Promise.all(disks.map((d, i) => lab.ok('detach_disk', [vms[i], d])));
    await Promise.all(disks.map((d) => lab.ok('delete_disk', [d])));
  });

  it('keeps a disk and its data when its VM is deleted with the disk attached', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(2, 20) });
    const disk = await lab.ok<string>('create_disk', [16, {}, null]);
    await lab.ok('attach_disk', [vm.cid, disk]);
    await execIn(vm.cid, `echo survives > ${hint(disk)}/f`);
    await lab.ok('delete_vm', [vm.cid]);
    expect(await lab.ok('has_disk', [disk])).toBe(true);
    await lab.ok('attach_disk', [vmB, disk]);
    expect(await execIn(vmB, `cat ${hint(disk)}/f`)).toBe('survives');
    await lab.ok('detach_disk', [vmB, disk]);
    await lab.ok('delete_disk', [disk]);
  });
});

describe('snapshots, resize, update, metadata', () => {
  /** Reads a file from a snapshot's image, mounted read-only on the host. */
  function readFromSnapshot(snapshot: string, file: string): string {
    const mp = execFileSync('docker', ['volume', 'inspect', '-f', '{{.Mountpoint}}', snapshot], { encoding: 'utf8' }).trim();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snap-'));
    execFileSync('mount', ['-o', 'loop,ro', path.join(mp, 'disk.img'), dir]);
    try {
      return fs.existsSync(path.join(dir, file)) ? fs.readFileSync(path.join(dir, file), 'utf8').trim() : '<missing>';
    } finally {
      execFileSync('umount', [dir]);
    }
  }

  it('takes a point-in-time copy of an attached disk, with its metadata', async () => {
    const disk = await lab.ok<string>('create_disk', [32, {}, null]);
    await lab.ok('attach_disk', [vmA, disk]);
    await execIn(vmA, `echo before > ${hint(disk)}/state`);
    const snap = await lab.ok<string>('snapshot_disk', [disk, { deployment: 'redis', index: 0, agent_id: 'a1' }]);
    await execIn(vmA, `echo after > ${hint(disk)}/state && echo new > ${hint(disk)}/later`);
    expect(snap).toMatch(/^snap-[0-9a-f-]{36}$/);
    expect((await inspect('volume', snap)).Labels).toMatchObject({ 'bosh.cpi.kind': 'snapshot', 'bosh.cpi.snapshot-of': disk, 'bosh.snapshot.deployment': 'redis', 'bosh.snapshot.index': '0' });
    expect(readFromSnapshot(snap, 'state')).toBe('before');
    expect(readFromSnapshot(snap, 'later')).toBe('<missing>');
    // Writes go on after the freeze.
    expect(await execIn(vmA, `cat ${hint(disk)}/state`)).toBe('after');

    const notSnap = await lab.call('delete_snapshot', [disk]);
    expect(notSnap.response.error?.message).toBe(`delete_snapshot: ${disk} is not a snapshot`);
    await lab.ok('delete_snapshot', [snap]);
    await lab.ok('delete_snapshot', [snap]);
    await lab.ok('detach_disk', [vmA, disk]);
    await lab.ok('delete_disk', [disk]);
  });

  it('grows a detached disk, keeping its data; refuses to shrink or resize an attached one', async () => {
    const disk = await lab.ok<string>('create_disk', [32, {}, null]);
    await lab.ok('attach_disk', [vmA, disk]);
    await execIn(vmA, `echo kept > ${hint(disk)}/f`);
    const attached = await lab.call('resize_disk', [disk, 64]);
    expect(attached.response.error?.message).toBe(`resize_disk: disk ${disk} is attached to VM ${vmA}; detach it first`);
    await lab.ok('detach_disk', [vmA, disk]);
    await lab.ok('resize_disk', [disk, 64]);
    const shrink = await lab.call('resize_disk', [disk, 16]);
    expect(shrink.response.error).toEqual({ type: 'Bosh::Clouds::NotSupported', message: `resize_disk: disk ${disk} is 64 MiB; shrinking to 16 MiB is not supported`, ok_to_retry: false });
    await lab.ok('update_disk', [disk, 96, {}]);
    const update = await lab.call('update_disk', [disk, 96, { type: 'ssd' }]);
    expect(update.response.error?.type).toBe('Bosh::Clouds::NotSupported');
    await lab.ok('attach_disk', [vmA, disk]);
    expect(await execIn(vmA, `cat ${hint(disk)}/f`)).toBe('kept');
    const blocks = Number((await execIn(vmA, `df -k ${hint(disk)} | tail -1`)).trim().split(/\s+/)[1]);
    expect(blocks).toBeGreaterThan(80 * 1024);
    await lab.ok('detach_disk', [vmA, disk]);
    await lab.ok('delete_disk', [disk]);
  });

  it('keeps disk metadata where an operator finds it', async () => {
    const disk = await lab.ok<string>('create_disk', [16, {}, null]);
    await lab.ok('set_disk_metadata', [disk, { deployment: 'redis', instance_id: 'abc' }]);
    expect(JSON.parse(fs.readFileSync(path.join(lab.engineDir(), 'disks', `${disk}.json`), 'utf8'))).toEqual({ deployment: 'redis', instance_id: 'abc' });
    const missing = await lab.call('set_disk_metadata', ['vol-00000000-0000-4000-8000-000000000000', {}]);
    expect(missing.response.error?.type).toBe('Bosh::Clouds::DiskNotFound');
    await lab.ok('delete_disk', [disk]);
    expect(fs.existsSync(path.join(lab.engineDir(), 'disks', `${disk}.json`))).toBe(false);
  });
});

describe('sized ephemeral disk', () => {
  it('gives /var/vcap/data the size of cloud_properties.ephemeral_disk', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(3, 30) }, { ephemeral_disk: 48 });
    const blocks = Number((await execIn(vm.cid, 'df -k /var/vcap/data | tail -1')).trim().split(/\s+/)[1]);
    expect(blocks).toBeGreaterThan(30 * 1024);
    expect(blocks).toBeLessThanOrEqual(48 * 1024);
    await lab.ok('delete_vm', [vm.cid]);
  });
});
