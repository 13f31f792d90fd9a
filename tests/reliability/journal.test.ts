/**
 * A recreate-mode attach or detach deletes the VM's container and makes a new one. The CPI is
 * killed (SIGKILL, at a failpoint: the kill provably lands there) at every step in between; the
 * next call on the VM, has_vm included, finishes or rolls back the recreate from its journal.
 * has_vm never says false for such a VM, its ephemeral data survives, its settings match the
 * disks it really has, and the disk's data is intact.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerOf, docker, execIn } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

// Archive delivery, and no helpers for remote disks: attach recreates the container.
const lab = new Lab('journal', SUBNETS.journal, { settings_delivery: 'archive', remote_disks: 'recreate' });
let stemcell: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
}, 120_000);
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

const hint = (disk: string) => `/warden-cpi-dev/${disk}`;

async function containersOf(vm: string): Promise<string[]> {
  return (await docker('ps', '-aq', '--no-trunc', '--filter', `label=bosh.cpi.vm-cid=${vm}`)).split('\n').filter(Boolean);
}

async function persistentInside(vm: string): Promise<Record<string, string>> {
  return JSON.parse(await execIn(await containerOf(vm), 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent;
}

/** Runs `method` with the CPI set to kill itself at `failpoint`; asserts it died there. */
async function killedAt(failpoint: string, method: string, args: unknown[]): Promise<void> {
  const run = await lab.call(method, args, { env: { BOSH_CPI_FAILPOINT: failpoint } });
  expect(run.signal).toBe('SIGKILL');
  expect(run.stdout).toBe('');
}

const journal = (vm: string) => path.join(lab.vmDir(vm), 'recreate.json');

type Outcome = 'rolled back' | 'completed';
const STEPS: Array<[string, Outcome, (vm: string, oldId: string) => Promise<void>]> = [
  // Journal written, old container untouched: nothing is lost yet, the attach is undone.
  ['recreate.after-journal', 'rolled back', async (vm, oldId) => expect(await containersOf(vm)).toEqual([oldId])],
  // Old container gone, new one not made: only the journal knows the VM.
  ['recreate.after-delete', 'completed', async (vm) => expect(await containersOf(vm)).toEqual([])],
  // New container made, not started, its networks and files not yet given.
  ['recreate.after-create', 'completed', async (vm, oldId) => {
    const ids = await containersOf(vm);
    expect(ids).toHaveLength(1);
    expect(ids[0]).not.toBe(oldId);
    expect((await docker('inspect', '-f', '{{.State.Status}}', ids[0] as string))).toBe('created');
  }],
  // Everything given, the start not yet made.
  ['recreate.before-start', 'completed', async (vm) => expect((await docker('inspect', '-f', '{{.State.Status}}', (await containersOf(vm))[0] as string))).toBe('created')],
];

describe.each(STEPS)('killed at %s', (failpoint, outcome, landed) => {
  it(`of an attach: the next calls find the VM and the recreate is ${outcome}`, async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(1, 10 + STEPS.findIndex((s) => s[0] === failpoint)) });
    const disk = await lab.ok<string>('create_disk', [16, { backing: 'directory' }, vm.cid]);
    const oldId = await containerOf(vm.cid);
    expect((await docker('inspect', '-f', '{{index .Config.Labels "bosh.cpi.disk-mode"}}', oldId))).toBe('recreate');
    await execIn(oldId, 'echo ephemeral > /var/vcap/data/kept');

    await killedAt(failpoint, 'attach_disk', [vm.cid, disk]);
    await landed(vm.cid, oldId);
    expect(fs.existsSync(journal(vm.cid))).toBe(true);

    // The Director's next look: the VM exists, and is whole again afterwards.
    expect(await lab.ok('has_vm', [vm.cid])).toBe(true);
    expect(fs.existsSync(journal(vm.cid))).toBe(false);
    const id = await containerOf(vm.cid);
    expect(await containersOf(vm.cid)).toEqual([id]);
    expect((await docker('inspect', '-f', '{{.State.Running}}', id))).toBe('true');
    expect(await execIn(id, 'cat /var/vcap/data/kept')).toBe('ephemeral');
    expect(await execIn(id, `ip -4 -o addr show | grep -c ' ${lab.ip(1, 10 + STEPS.findIndex((s) => s[0] === failpoint))}/24 '`)).toBe('1');
    const attached = await lab.ok<string[]>('get_disks', [vm.cid]);
    if (outcome === 'rolled back') {
      expect(id).toBe(oldId);
      expect(attached).toEqual([]);
      expect(await persistentInside(vm.cid)).toEqual({});
    } else {
      expect(id).not.toBe(oldId);
      expect(attached).toEqual([disk]);
      expect(await persistentInside(vm.cid)).toEqual({ [disk]: hint(disk) });
    }

    // The Director retries what it asked for; then the disk works both ways with its data.
    await lab.ok('attach_disk', [vm.cid, disk]);
    await execIn(await containerOf(vm.cid), `echo data > ${hint(disk)}/f`);
    await lab.ok('detach_disk', [vm.cid, disk]);
    expect(await persistentInside(vm.cid)).toEqual({});
    await lab.ok('attach_disk', [vm.cid, disk]);
    expect(await execIn(await containerOf(vm.cid), `cat ${hint(disk)}/f`)).toBe('data');
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_disk', [disk]);
    expect(lab.records()).toEqual({ vms: [], creating: [] });
  }, 120_000);
});

describe('a journal of an interrupted detach', () => {
  it('is completed by delete_vm, which then removes everything but the disk', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(2, 10) });
    const disk = await lab.ok<string>('create_disk', [16, { backing: 'directory' }, vm.cid]);
    await lab.ok('attach_disk', [vm.cid, disk]);
    await killedAt('recreate.after-delete', 'detach_disk', [vm.cid, disk]);
    expect(await containersOf(vm.cid)).toEqual([]);
    await lab.ok('delete_vm', [vm.cid]);
    expect(await containersOf(vm.cid)).toEqual([]);
    expect(await lab.ok('has_vm', [vm.cid])).toBe(false);
    expect(await lab.ok('has_disk', [disk])).toBe(true);
    await lab.ok('delete_disk', [disk]);
    expect(lab.records()).toEqual({ vms: [], creating: [] });
  }, 120_000);
});
