/**
 * One CPI, one state directory, two engines (two AZs through the Director's cpi-config: each
 * call's context names its engine). Records are keyed by engine: a sweep on one engine never
 * touches another's remains, and a call whose context names the wrong engine answers as that
 * engine would (no such VM) without touching the records of the VM that lives elsewhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TEST_LABEL } from '../helpers/docker';
import { Lab, SUBNETS } from '../helpers/lab';
import { PrivateEngine } from '../helpers/private-engine';

const a = new PrivateEngine('eng-a');
const b = new PrivateEngine('eng-b');
let lab: Lab;
const stemcells: Record<string, string> = {};
const on = (e: PrivateEngine) => ({ context: { director_uuid: 'engines', docker: { host: e.host } } });

beforeAll(async () => {
  await Promise.all([a.start(), b.start()]);
  lab = new Lab('engines', SUBNETS.engines, { docker: { host: a.host } });
  for (const e of [a, b]) {
    const sc = await lab.stemcellFilesFor('runit');
    const r = await lab.call('create_stemcell', [sc.imagePath, sc.cloudProperties], on(e));
    expect(r.response.error).toBeNull();
    stemcells[e.host] = r.response.result as string;
  }
}, 180_000);

afterAll(async () => {
  await Promise.all([a.destroy(), b.destroy()]);
}, 120_000);

function engineDir(e: PrivateEngine): string {
  return path.join(lab.stateDir, 'engines', e.docker('info', '--format', '{{.ID}}').replace(/[^A-Za-z0-9_.-]/g, '_'));
}
const list = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
const labelled = (e: PrivateEngine, kind: 'ps' | 'volume') =>
  (kind === 'ps' ? e.docker('ps', '-aq', '--filter', `label=${TEST_LABEL}=${lab.runId}`) : e.docker('volume', 'ls', '-q', '--filter', `label=${TEST_LABEL}=${lab.runId}`)).split('\n').filter(Boolean);

async function createOn(e: PrivateEngine, host: number, extra: { env?: Record<string, string> } = {}) {
  const run = await lab.call('create_vm', [`agent-${host}`, stemcells[e.host], {}, { default: lab.manual(1, host) }, [], {}], { ...on(e), ...extra });
  if (!extra.env && run.response.error) throw new Error(`create_vm on ${e.host} failed: ${run.response.error.message}`);
  return run;
}

describe('two engines behind one CPI', () => {
  it('keep their records apart: each engine has its own VM records', async () => {
    const va = await createOn(a, 10);
    const vb = await createOn(b, 11);
    const [cidA] = va.response.result as [string];
    const [cidB] = vb.response.result as [string];
    expect(list(path.join(engineDir(a), 'vms'))).toEqual([cidA]);
    expect(list(path.join(engineDir(b), 'vms'))).toEqual([cidB]);
    expect(engineDir(a)).not.toBe(engineDir(b));
    expect((await lab.call('delete_vm', [cidA], on(a))).response.error).toBeNull();
    expect((await lab.call('delete_vm', [cidB], on(b))).response.error).toBeNull();
    expect([...list(path.join(engineDir(a), 'vms')), ...list(path.join(engineDir(b), 'vms'))]).toEqual([]);
  });

  it('sweep only their own remains: a create_vm killed on A is cleared by A, never by B', async () => {
    const killed = await createOn(a, 20, { env: { BOSH_CPI_FAILPOINT: 'create_vm.after-container' } });
    expect(killed.signal).toBe('SIGKILL');
    expect(labelled(a, 'ps')).toHaveLength(1);
    expect(list(path.join(engineDir(a), 'creating'))).toHaveLength(1);
    // Calls on B (create_vm and delete_vm sweep) leave A's remains and marker alone.
    const vb = await createOn(b, 21);
    const [cidB] = vb.response.result as [string];
    expect((await lab.call('delete_vm', [cidB], on(b))).response.error).toBeNull();
    expect(labelled(a, 'ps')).toHaveLength(1);
    expect(labelled(a, 'volume')).toHaveLength(1);
    expect(list(path.join(engineDir(a), 'creating'))).toHaveLength(1);
    // The next call on A clears them.
    const va = await createOn(a, 22);
    const [cidA] = va.response.result as [string];
    expect(labelled(a, 'ps')).toHaveLength(1);
    expect(list(path.join(engineDir(a), 'creating'))).toEqual([]);
    expect((await lab.call('delete_vm', [cidA], on(a))).response.error).toBeNull();
    expect(labelled(a, 'ps')).toEqual([]);
    expect(labelled(a, 'volume')).toEqual([]);
  });

  it('answer a call with the wrong context as that engine would, touching nothing of the VM that lives elsewhere', async () => {
    const va = await createOn(a, 30);
    const [cid] = va.response.result as [string];
    expect((await lab.call('set_vm_metadata', [cid, { deployment: 'd', job: 'j', index: '0' }], on(a))).response.error).toBeNull();
    const records = path.join(engineDir(a), 'vms', cid);
    const before = list(records);
    expect(before).toEqual(expect.arrayContaining(['metadata.json', 'settings.json']));

    expect((await lab.call('has_vm', [cid], on(b))).response.result).toBe(false);
    expect((await lab.call('delete_vm', [cid], on(b))).response.error).toBeNull(); // gone from B, as far as B knows
    expect((await lab.call('reboot_vm', [cid], on(b))).response.error?.type).toBe('Bosh::Clouds::VMNotFound');
    expect((await lab.call('get_disks', [cid], on(b))).response.error?.type).toBe('Bosh::Clouds::VMNotFound');

    expect(list(records)).toEqual(before);
    expect(a.docker('inspect', '-f', '{{.State.Running}}', labelled(a, 'ps')[0] as string)).toBe('true');
    expect((await lab.call('has_vm', [cid], on(a))).response.result).toBe(true);
    expect((await lab.call('delete_vm', [cid], on(a))).response.error).toBeNull();
    expect(fs.existsSync(records)).toBe(false);
  });

  it('refuse a third engine that reports A\'s ID (a cloned machine image), before making anything on it', async () => {
    const clone = new PrivateEngine('eng-c', a);
    await clone.start();
    try {
      expect(clone.docker('info', '--format', '{{.ID}}')).toBe(a.docker('info', '--format', '{{.ID}}'));
      const sc = await lab.stemcellFilesFor('runit');
      const run = await lab.call('create_stemcell', [sc.imagePath, sc.cloudProperties], on(clone));
      expect(run.response.error).toBeNull(); // stemcells need no records
      const vm = await lab.call('create_vm', ['agent-clone', run.response.result, {}, { default: lab.manual(1, 40) }, [], {}], on(clone));
      expect(vm.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
      expect(vm.response.error?.message).toContain(`two Docker engines report the same ID ${a.docker('info', '--format', '{{.ID}}')}: the one at ${clone.host}`);
      expect(clone.docker('ps', '-aq')).toBe('');
      expect(clone.docker('volume', 'ls', '-q')).toBe('');
    } finally {
      await clone.destroy();
    }
  });

  it('leave nothing on either engine', async () => {
    for (const e of [a, b]) {
      expect((await lab.call('delete_stemcell', [stemcells[e.host]], on(e))).response.error).toBeNull();
      expect(labelled(e, 'ps')).toEqual([]);
      expect(labelled(e, 'volume')).toEqual([]);
      expect(e.docker('network', 'ls', '-q', '--filter', `label=${TEST_LABEL}=${lab.runId}`)).toBe('');
      expect(e.docker('images', '-q', '--filter', `label=${TEST_LABEL}=${lab.runId}`)).toBe('');
    }
  });
});
