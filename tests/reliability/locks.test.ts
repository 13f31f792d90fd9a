/**
 * Calls that really race, as the Director's parallel threads make them: two attaches on one VM,
 * two VMs attaching one disk, attach against delete_vm. Cross-process locks per VM and per disk
 * keep every settings entry and let exactly one VM hold a disk; a killed holder's lock goes stale
 * and the next call gets on; a call that cannot get a lock in time fails retryably.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CPI, type CpiRun } from '../helpers/cpi';
import { containerOf, execIn } from '../helpers/docker';
import { Lab, mountsUnder, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const lab = new Lab('locks', SUBNETS.locks);
let stemcell: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
}, 120_000);
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

async function persistentInside(vm: string): Promise<Record<string, string>> {
  return JSON.parse(await execIn(await containerOf(vm), 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent;
}

/** Whether a run logged that it waited for another call's lock: the calls really competed. */
const waited = (r: CpiRun) => r.stderr.includes("waited for another call's lock");

const sorted = (xs: string[]) => [...xs].sort();

describe('two attaches on one VM', () => {
  it('keep both settings entries and both mounts, 50 rounds; and two detaches remove both', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(1, 10) });
    const disks = [await lab.ok<string>('create_disk', [16, {}, vm.cid]), await lab.ok<string>('create_disk', [16, {}, vm.cid])];
    let contended = 0;
    for (let round = 0; round < 50; round++) {
      const attaches = await Promise.all(disks.map((d) => lab.call('attach_disk', [vm.cid, d])));
      expect(attaches.map((r) => r.response.error)).toEqual([null, null]);
      contended += attaches.filter(waited).length;
      expect(Object.keys(await persistentInside(vm.cid)).sort()).toEqual(sorted(disks));
      expect(sorted(await lab.ok<string[]>('get_disks', [vm.cid]))).toEqual(sorted(disks));
      const detaches = await Promise.all(disks.map((d) => lab.call('detach_disk', [vm.cid, d])));
      expect(detaches.map((r) => r.response.error)).toEqual([null, null]);
      contended += detaches.filter(waited).length;
      expect(await persistentInside(vm.cid)).toEqual({});
      expect(await lab.ok('get_disks', [vm.cid])).toEqual([]);
    }
    // The pairs overlapped: in most rounds one call had to wait for the other's lock.
    expect(contended).toBeGreaterThan(50);
    await lab.ok('delete_vm', [vm.cid]);
    for (const d of disks) await lab.ok('delete_disk', [d]);
  }, 600_000);
});

describe('two VMs attaching one disk', () => {
  it('let exactly one have it, and the other is told which VM holds it, 10 rounds', async () => {
    const a = await lab.createVm(stemcell, { default: lab.manual(2, 10) });
    const b = await lab.createVm(stemcell, { default: lab.manual(2, 11) });
    const disk = await lab.ok<string>('create_disk', [16, {}, a.cid]);
    for (let round = 0; round < 10; round++) {
      const runs = await Promise.all([a.cid, b.cid].map((vm) => lab.call('attach_disk', [vm, disk])));
      const won = runs.findIndex((r) => r.response.error === null);
      expect(won).toBeGreaterThanOrEqual(0);
      const winner = [a.cid, b.cid][won] as string;
      const loser = runs[1 - won] as CpiRun;
      expect(loser.response.error).toEqual({ type: 'Bosh::Clouds::CloudError', message: `disk ${disk} is attached to VM ${winner}; detach it first`, ok_to_retry: false });
      expect(await lab.ok('get_disks', [winner])).toEqual([disk]);
      expect(await lab.ok('get_disks', [[a.cid, b.cid][1 - won]])).toEqual([]);
      await lab.ok('detach_disk', [winner, disk]);
    }
    await lab.ok('delete_vm', [a.cid]);
    await lab.ok('delete_vm', [b.cid]);
    await lab.ok('delete_disk', [disk]);
  }, 300_000);
});

describe('attach_disk racing delete_vm', () => {
  it('ends with the VM gone, the disk mounted nowhere and its data kept, whichever went first, 10 rounds', async () => {
    const disk = await lab.ok<string>('create_disk', [16, {}, null]);
    const orders: string[] = [];
    for (let round = 0; round < 10; round++) {
      const vm = await lab.createVm(stemcell, { default: lab.manual(3, 10 + round) });
      const [attach, del] = await Promise.all([lab.call('attach_disk', [vm.cid, disk]), lab.call('delete_vm', [vm.cid])]);
      expect(del.response.error).toBeNull();
      if (attach.response.error) {
        // delete_vm went first: the attach found no VM, and said so before touching the disk.
        expect(attach.response.error).toEqual({ type: 'Bosh::Clouds::VMNotFound', message: `VM '${vm.cid}' not found`, ok_to_retry: false });
        orders.push('delete first');
      } else {
        expect(attach.response.result).toBe(`/warden-cpi-dev/${disk}`);
        orders.push('attach first');
      }
      expect(await lab.ok('has_vm', [vm.cid])).toBe(false);
      expect(mountsUnder(lab.stateDir).filter((m) => m.endsWith(disk))).toEqual([]);
    }
    // The disk moves on with its data: a new VM gets it.
    const last = await lab.createVm(stemcell, { default: lab.manual(3, 30) });
    await lab.ok('attach_disk', [last.cid, disk]);
    await execIn(await containerOf(last.cid), `echo kept > /warden-cpi-dev/${disk}/f`);
    await lab.ok('detach_disk', [last.cid, disk]);
    await lab.ok('attach_disk', [last.cid, disk]);
    expect(await execIn(await containerOf(last.cid), `cat /warden-cpi-dev/${disk}/f`)).toBe('kept');
    await lab.ok('delete_vm', [last.cid]);
    await lab.ok('delete_disk', [disk]);
    process.stdout.write(`attach vs delete_vm orders: ${orders.join(', ')}\n`);
  }, 300_000);
});

/** Starts attach_disk paused at a failpoint (holding its locks); resolves once it is there. */
async function pausedAttach(vm: string, disk: string, extraEnv: Record<string, string> = {}) {
  const gate = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gate-')), 'attach');
  const child = spawn(CPI, ['-configPath', lab.configFile], {
    env: { ...process.env, BOSH_CPI_FAILPOINT: `attach.after-mount:pause:${gate}`, ...extraEnv },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(JSON.stringify({ method: 'attach_disk', arguments: [vm, disk], context: {}, api_version: 2 }));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
  for (let i = 0; i < 1000 && !fs.existsSync(`${gate}.reached`); i++) await new Promise((r) => setTimeout(r, 10));
  expect(fs.existsSync(`${gate}.reached`)).toBe(true);
  return { child, exited, release: () => fs.writeFileSync(`${gate}.release`, '') };
}

describe('a lock holder that stops', () => {
  it('killed with SIGKILL mid-attach: its lock goes stale and the next call on the VM gets on', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(4, 10) });
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    const held = await pausedAttach(vm.cid, disk);
    held.child.kill('SIGKILL');
    expect(await held.exited).toBe('SIGKILL');
    const started = Date.now();
    const next = await lab.call('detach_disk', [vm.cid, disk]);
    const ms = Date.now() - started;
    expect(next.response.error).toBeNull();
    expect(waited(next)).toBe(true); // the dead holder's lock was there, and was taken over
    expect(ms).toBeLessThan(15_000);
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([]);
    expect(await lab.ok('attach_disk', [vm.cid, disk])).toBe(`/warden-cpi-dev/${disk}`);
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_disk', [disk]);
  }, 120_000);

  it('alive but slow beyond lock_timeout_seconds: the waiting call fails retryably, naming the VM', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(4, 20) });
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    const held = await pausedAttach(vm.cid, disk);
    try {
      const run = await lab.call('reboot_vm', [vm.cid], { context: { director_uuid: 'locks', lock_timeout_seconds: 1 } });
      expect(run.response.error).toEqual({
        type: 'Bosh::Clouds::CloudError',
        message: `VM ${vm.cid} is busy: another CPI call has held its lock for over 1 s (lock_timeout_seconds)`,
        ok_to_retry: true,
      });
    } finally {
      held.release();
    }
    expect(await held.exited).toBeNull();
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([disk]);
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_disk', [disk]);
  }, 120_000);
});
