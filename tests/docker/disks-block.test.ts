/**
 * Disk mode `block` against the real engine: a VM whose stemcell has a BOSH agent gets its disks
 * as block devices and an agent configuration that mounts them itself. The bosh-agent's own
 * persistent-disk sequence — first mount, then a size change's migration — is replayed inside
 * the VM container with the agent's mount-listing checks (tests/helpers/agent-replay.ts): it
 * passes in block mode and fails, as the real agent does, on the bind-mounted presentation.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentScript } from '../helpers/agent-replay';
import { docker, execIn, inspect } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const WARDEN_AGENT_JSON = {
  Platform: { Linux: { UseDefaultTmpDir: true, UsePreformattedPersistentDisk: true, BindMountPersistentDisk: true, SkipDiskSetup: true } },
  Infrastructure: { Settings: { Sources: [{ Type: 'File', SettingsPath: '/var/vcap/bosh/warden-cpi-agent-env.json' }] } },
};
const hint = (disk: string) => `/warden-cpi-dev/${disk}`;
const containerId = async (vm: string) => (await docker('ps', '-aq', '--no-trunc', '--filter', `label=bosh.cpi.vm-cid=${vm}`)).trim();
const started = async (vm: string) => (await inspect('container', await containerId(vm))).State.StartedAt as string;

/** Runs `body` in the VM with the agent's functions (see agent-replay.ts); stdout, or the failure's stderr. */
async function asAgent(vm: string, mode: 'block' | 'bind', body: string): Promise<{ ok: boolean; out: string }> {
  try {
    return { ok: true, out: execFileSync('docker', ['exec', await containerId(vm), '/bin/sh', '-c', agentScript(mode, body)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim() };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: string }).stderr ?? e).trim() };
  }
}

/** The loop devices whose backing file (as the host's sysfs shows it) matches. */
function loopsWhere(match: (backing: string) => boolean): string[] {
  return fs.readdirSync('/sys/block').filter((d) => {
    try {
      return match(fs.readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').trim());
    } catch {
      return false;
    }
  });
}
const loopsOf = (file: string) => loopsWhere((b) => b === fs.realpathSync(file));
const loopsUnder = (dir: string) => loopsWhere((b) => b.startsWith(`${fs.realpathSync(dir)}/`));
/** Bound to a file whose path contains `part`, deleted or not. */
const loopsNamed = (part: string) => loopsWhere((b) => b.includes(part));

/** The loop minor of the disk's device node in the VM's disk directory (on the host). */
async function nodeMinor(vm: string, disk: string): Promise<number> {
  const c = await inspect('container', await containerId(vm));
  const dir = (c.Mounts as Array<{ Source: string; Destination: string }>).find((m) => m.Destination === '/warden-cpi-dev')?.Source as string;
  const rdev = fs.statSync(path.join(dir, disk)).rdev;
  return (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
}

const imageOf = async (disk: string) => path.join((await inspect('volume', disk)).Mountpoint as string, 'disk.img');

/** A file of the disk's ext4 image, read on the host while nothing has it mounted. */
function readFromImage(image: string, file: string): string {
  return execFileSync('debugfs', ['-R', `cat ${file}`, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

describe('disk mode block', () => {
  const lab = new Lab('disks-block', SUBNETS.block);
  let agentStemcell: string;
  let plainStemcell: string;
  const disks: string[] = [];
  const newDisk = async (vm: string, mib = 32) => {
    const d = await lab.ok<string>('create_disk', [mib, {}, vm]);
    disks.push(d);
    return d;
  };

  /** A block VM with a disk attached and mounted at the store by the agent's sequence, holding /f. */
  const vmWithMountedDisk = async (host: number, content: string) => {
    const vm = await lab.createVm(agentStemcell, { default: lab.manual(1, host) });
    const disk = await newDisk(vm.cid);
    await lab.ok('attach_disk', [vm.cid, disk]);
    expect(await asAgent(vm.cid, 'block', `agent_mount_persistent ${hint(disk)} && echo ${content} > /var/vcap/store/f`)).toEqual({ ok: true, out: '' });
    return { vm, disk };
  };

  beforeAll(async () => {
    agentStemcell = await lab.stemcellWith({ init: 'runit', name: 'bosh-busybox-agent', files: { 'var/vcap/bosh/agent.json': JSON.stringify(WARDEN_AGENT_JSON) } });
    plainStemcell = await lab.stemcell('runit');
  });

  afterAll(async () => {
    for (const d of disks) await lab.ok('delete_disk', [d]).catch(() => undefined);
    // Guards under the state dir, and any device still bound to one of this file's disks (deleted or not).
    const leftLoops = [...loopsUnder(lab.stateDir), ...disks.flatMap((d) => loopsNamed(`/volumes/${d}/`))];
    expect({ ...(await lab.finish()), loops: leftLoops }).toEqual({ ...NOTHING_LEFT, loops: [] });
  });

  it('gives a VM with a BOSH agent its own loop devices, no CAP_MKNOD, and an agent configuration that mounts devices', async () => {
    const vm = await lab.createVm(agentStemcell, { default: lab.manual(1, 10) });
    const c = await inspect('container', await containerId(vm.cid));
    expect(c.Config.Labels['bosh.cpi.disk-mode']).toBe('block');
    const minors = (c.Config.Labels['bosh.cpi.block-minors'] as string).split(',').map(Number);
    expect(minors).toHaveLength(4);
    expect(c.HostConfig.DeviceCgroupRules).toEqual(minors.map((m) => `b 7:${m} rwm`));
    expect(c.HostConfig.CapAdd).toEqual(['SYS_ADMIN']);
    expect(c.HostConfig.CapDrop).toEqual(['MKNOD']);
    expect(c.HostConfig.Privileged).toBe(false);
    // Each minor is held (by the VM's guard file) while it holds no disk.
    for (const m of minors) expect(fs.readFileSync(`/sys/block/loop${m}/loop/backing_file`, 'utf8').trim()).toMatch(/\/loop-guard$/);
    const config = JSON.parse(await execIn(c.Id, 'cat /var/vcap/bosh/agent.json'));
    expect(config.Platform.Linux).toEqual({ ...WARDEN_AGENT_JSON.Platform.Linux, BindMountPersistentDisk: false, UsePreformattedPersistentDisk: true, DevicePathResolutionType: '' });
    expect(config.Infrastructure).toEqual(WARDEN_AGENT_JSON.Infrastructure);
    expect(await execIn(c.Id, 'touch /var/vcap/bosh/agent.json 2>&1 || echo read-only')).toContain('read-only');
    await lab.ok('delete_vm', [vm.cid]);
    for (const m of minors) expect(fs.existsSync(`/sys/block/loop${m}/loop/backing_file`)).toBe(false);
  });

  it("passes the agent's disk migration: a size change keeps the data, the container and /var/vcap/data", async () => {
    const vm = await lab.createVm(agentStemcell, { default: lab.manual(1, 11) });
    const before = await started(vm.cid);
    const small = await newDisk(vm.cid, 32);
    expect(await lab.ok('attach_disk', [vm.cid, small])).toBe(hint(small));
    expect(await execIn(await containerId(vm.cid), `[ -b ${hint(small)} ] && echo block`)).toBe('block');
    const first = await asAgent(vm.cid, 'block', [
      `agent_mount_persistent ${hint(small)}`,
      'echo precious > /var/vcap/store/proof && mkdir -p /var/vcap/store/d && dd if=/dev/urandom of=/var/vcap/store/d/blob bs=1k count=2048 2>/dev/null',
      '(cd /var/vcap/store && md5sum d/blob > sum) && echo eph > /var/vcap/data/marker',
    ].join(' && '));
    expect(first).toEqual({ ok: true, out: '' });

    const big = await newDisk(vm.cid, 64);
    expect(await lab.ok('attach_disk', [vm.cid, big])).toBe(hint(big));
    const migrated = await asAgent(vm.cid, 'block', `agent_mount_persistent ${hint(big)} && agent_migrate && awk '$2 == "/var/vcap/store" { print $1 }' /proc/mounts`);
    expect(migrated).toEqual({ ok: true, out: hint(big) });
    const id = await containerId(vm.cid);
    expect(await execIn(id, 'cat /var/vcap/store/proof && cd /var/vcap/store && md5sum -c sum && cat /var/vcap/data/marker')).toBe('precious\nd/blob: OK\neph');
    expect(Number(await execIn(id, "df -k -P /var/vcap/store | awk 'NR == 2 { print $2 }'"))).toBeGreaterThan(50 * 1024);
    expect(await started(vm.cid)).toBe(before); // live: never restarted

    // The old disk goes as the CLI and the Director let it go: detach, then delete.
    await lab.ok('detach_disk', [vm.cid, small]);
    expect(loopsOf(await imageOf(small))).toEqual([]);
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([big]);
    await lab.ok('delete_disk', [small]);
    // The agent, restarted, finds its disk from the mount listing again.
    expect((await asAgent(vm.cid, 'block', `agent_mount_persistent ${hint(big)} && echo kept`)).out).toBe('kept');
    await lab.ok('delete_vm', [vm.cid]);
    expect(readFromImage(await imageOf(big), '/proof')).toBe('precious\n');
  });

  it("grows a disk the Director's way too (enable_cpi_resize_disk): detach, resize_disk, attach, the agent mounts it again", async () => {
    const { vm, disk } = await vmWithMountedDisk(24, 'grown');
    const resizeAttached = await lab.call('resize_disk', [disk, 64]);
    expect(resizeAttached.response.error?.message).toBe(`resize_disk: disk ${disk} is attached to VM ${vm.cid}; detach it first`);
    // The Director unmounts through the agent, then detaches.
    await execIn(await containerId(vm.cid), 'umount /var/vcap/store');
    await lab.ok('detach_disk', [vm.cid, disk]);
    await lab.ok('resize_disk', [disk, 64]);
    await lab.ok('attach_disk', [vm.cid, disk]);
    const r = await asAgent(vm.cid, 'block', `agent_mount_persistent ${hint(disk)} && cat /var/vcap/store/f && df -k -P /var/vcap/store | awk 'NR == 2 { print $2 }'`);
    expect(r.ok).toBe(true);
    const [content, kb] = r.out.split('\n');
    expect(content).toBe('grown');
    expect(Number(kb)).toBeGreaterThan(50 * 1024);
    await lab.ok('delete_vm', [vm.cid]);
  });

  it("fails, as the real agent does, on the bind-mounted presentation (why block mode exists)", async () => {
    // A stemcell without the agent's configuration gets the previous presentation: host mounts.
    const vm = await lab.createVm(plainStemcell, { default: lab.manual(1, 12) }, { CapAdd: ['SYS_ADMIN'] });
    expect((await inspect('container', await containerId(vm.cid))).Config.Labels['bosh.cpi.disk-mode']).toBe('host');
    const small = await newDisk(vm.cid, 32);
    const big = await newDisk(vm.cid, 64);
    await lab.ok('attach_disk', [vm.cid, small]);
    expect(await asAgent(vm.cid, 'bind', `agent_mount_persistent ${hint(small)} && echo data > /var/vcap/store/f`)).toEqual({ ok: true, out: '' });
    await lab.ok('attach_disk', [vm.cid, big]);
    const r = await asAgent(vm.cid, 'bind', `agent_mount_persistent ${hint(big)} && agent_migrate`);
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(new RegExp(`^Device \\S+ is already mounted to ${hint(big)}, can't mount to /var/vcap/store\nRemounting new disk on original mountpoint$`));
    await lab.ok('delete_vm', [vm.cid]);
  });

  it("keeps each VM to its own disks' devices, even with CAP_SYS_ADMIN and a devtmpfs", async () => {
    const a = await lab.createVm(agentStemcell, { default: lab.manual(1, 13) });
    const b = await lab.createVm(agentStemcell, { default: lab.manual(1, 14) });
    const disk = await newDisk(a.cid);
    await lab.ok('attach_disk', [a.cid, disk]);
    const minor = await nodeMinor(a.cid, disk);
    const bMinor = Number(((await inspect('container', await containerId(b.cid))).Config.Labels['bosh.cpi.block-minors'] as string).split(',')[0]);
    const probe = (m: number) =>
      `mkdir -p /tmp/dev && (grep -qs ' /tmp/dev ' /proc/mounts || mount -t devtmpfs none /tmp/dev) && (dd if=/tmp/dev/loop${m} of=/dev/null bs=4k count=1 2>/dev/null && echo readable || echo refused)`;
    const inB = await containerId(b.cid);
    expect(await execIn(inB, probe(minor))).toBe('refused'); // A's disk, seen from B
    expect(await execIn(inB, probe(bMinor))).toBe('readable'); // B's own (guarded) slot
    expect(await execIn(inB, `mknod /tmp/x b 7 ${minor} 2>&1 || echo no-mknod`)).toContain('no-mknod');
    await lab.ok('delete_vm', [b.cid]);
    await lab.ok('delete_vm', [a.cid]);
  });

  it('keeps a disk the VM still has mounted in use after detach_disk, and frees it once unmounted', async () => {
    const { vm, disk } = await vmWithMountedDisk(15, 'kept');
    const id = await containerId(vm.cid);
    const detach = await lab.call('detach_disk', [vm.cid, disk]);
    expect(detach.response.error).toBeNull();
    expect(detach.response.log).toContain('the disk is still mounted inside the VM');
    const refused = await lab.call('delete_disk', [disk]);
    expect(refused.response.error?.message).toBe(`delete_disk: disk ${disk} is attached to VM ${vm.cid}; detach it first`);
    expect(await execIn(id, 'cat /var/vcap/store/f')).toBe('kept');
    await execIn(id, 'umount /var/vcap/store');
    expect(loopsOf(await imageOf(disk))).toEqual([]);
    expect(readFromImage(await imageOf(disk), '/f')).toBe('kept\n');
    // Its slot is guarded again on the VM's next disk call, and takes another disk.
    const next = await newDisk(vm.cid);
    await lab.ok('attach_disk', [vm.cid, next]);
    await lab.ok('delete_vm', [vm.cid]);
  });

  it('releases the devices of a VM deleted with its disk mounted; the disk is clean and moves on', async () => {
    const { vm, disk } = await vmWithMountedDisk(16, 'survived');
    await lab.ok('delete_vm', [vm.cid]);
    const image = await imageOf(disk);
    expect(loopsOf(image)).toEqual([]);
    execFileSync('e2fsck', ['-n', '-f', image], { stdio: 'ignore' }); // exit 0: clean
    expect(readFromImage(image, '/f')).toBe('survived\n');
    const next = await lab.createVm(agentStemcell, { default: lab.manual(1, 17) });
    await lab.ok('attach_disk', [next.cid, disk]);
    expect((await asAgent(next.cid, 'block', `agent_mount_persistent ${hint(disk)} && cat /var/vcap/store/f`)).out).toBe('survived');
    await lab.ok('delete_vm', [next.cid]);
  });

  it('snapshots an attached, mounted disk frozen where the VM mounted it', async () => {
    const { vm, disk } = await vmWithMountedDisk(18, 'at-snapshot');
    const snap = await lab.ok<string>('snapshot_disk', [disk, {}]);
    await execIn(await containerId(vm.cid), 'echo later > /var/vcap/store/f && sync');
    const copy = path.join((await inspect('volume', snap)).Mountpoint as string, 'disk.img');
    execFileSync('e2fsck', ['-n', '-f', copy], { stdio: 'ignore' });
    expect(readFromImage(copy, '/f')).toBe('at-snapshot\n');
    await lab.ok('delete_snapshot', [snap]);
    await lab.ok('delete_vm', [vm.cid]);
  });

  it('refuses a fifth disk and a directory disk, naming why; a VM made with a directory disk bind-mounts', async () => {
    const vm = await lab.createVm(agentStemcell, { default: lab.manual(1, 19) });
    for (let i = 0; i < 4; i++) await lab.ok('attach_disk', [vm.cid, await newDisk(vm.cid, 16)]);
    const fifth = await lab.call('attach_disk', [vm.cid, await newDisk(vm.cid, 16)]);
    expect(fifth.response.error?.message).toBe(`VM ${vm.cid} has no free disk slot: all 4 of its block devices hold disks`);
    const dir = await lab.ok<string>('create_disk', [16, { backing: 'directory' }, vm.cid]);
    disks.push(dir);
    const refused = await lab.call('attach_disk', [vm.cid, dir]);
    expect(refused.response.error?.message).toContain(`disk ${dir} is a directory disk`);
    expect(await lab.ok('get_disks', [vm.cid])).toHaveLength(4);
    await lab.ok('delete_vm', [vm.cid]);

    const [withDir] = await lab.ok<[string]>('create_vm', ['agent-dir', agentStemcell, {}, { default: lab.manual(1, 20) }, [dir], {}]);
    const c = await inspect('container', await containerId(withDir));
    expect(c.Config.Labels['bosh.cpi.disk-mode']).toBe('host');
    expect(JSON.parse(await execIn(c.Id, 'cat /var/vcap/bosh/agent.json')).Platform.Linux.BindMountPersistentDisk).toBe(true);
    await lab.ok('attach_disk', [withDir, dir]);
    await lab.ok('delete_vm', [withDir]);
  });

  it("releases the devices of a VM removed behind the CPI's back (docker rm), at the next create_vm and attach", async () => {
    const gone = await lab.createVm(agentStemcell, { default: lab.manual(1, 22) });
    const disk = await newDisk(gone.cid);
    await lab.ok('attach_disk', [gone.cid, disk]);
    const minors = ((await inspect('container', await containerId(gone.cid))).Config.Labels['bosh.cpi.block-minors'] as string).split(',').map(Number);
    await docker('rm', '-f', '-v', await containerId(gone.cid));
    const next = await lab.createVm(agentStemcell, { default: lab.manual(1, 23) });
    // The guards went with the sweep; the disk's own device goes when the disk is next looked at.
    expect(minors.filter((m) => fs.existsSync(`/sys/block/loop${m}/loop/backing_file`))).toHaveLength(1);
    await lab.ok('attach_disk', [next.cid, disk]);
    expect(minors.filter((m) => fs.existsSync(`/sys/block/loop${m}/loop/backing_file`))).toEqual([]);
    await lab.ok('delete_vm', [next.cid]);
    await lab.ok('delete_vm', [gone.cid]);
  });

  it('keeps the device node and the agent configuration across reboot_vm', async () => {
    const { vm, disk } = await vmWithMountedDisk(21, 'rebooted');
    await lab.ok('reboot_vm', [vm.cid]);
    const r = await asAgent(vm.cid, 'block', `grep -c /var/vcap/store /proc/mounts; agent_mount_persistent ${hint(disk)} && cat /var/vcap/store/f && grep -c '"BindMountPersistentDisk": false' /var/vcap/bosh/agent.json`);
    expect(r).toEqual({ ok: true, out: '0\nrebooted\n1' });
    await lab.ok('delete_vm', [vm.cid]);
  });
});
