/**
 * What real hosts do to a CPI: the engine stops in the middle of a call, the CPI is killed with
 * SIGKILL part-way, resources vanish behind its back. Each time the Director's follow-up calls
 * must converge and nothing may be left. The engine here is this file's own (PrivateEngine), so
 * stopping it disturbs no other test.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CPI } from '../helpers/cpi';
import { TEST_LABEL } from '../helpers/docker';
import { Lab, SUBNETS, stemcellFiles } from '../helpers/lab';
import { PrivateEngine } from '../helpers/private-engine';

const engine = new PrivateEngine('faults');
let lab: Lab;
let stemcell: string;

beforeAll(async () => {
  await engine.start();
  lab = new Lab('faults', SUBNETS.faults, { docker: { host: engine.host } });
  stemcell = await lab.stemcell('runit');
}, 120_000);

afterAll(async () => {
  await engine.destroy();
}, 120_000);

/** What this file's runs left on the private engine. */
function leftovers(): { containers: string[]; volumes: string[]; networks: string[] } {
  const f = `label=${TEST_LABEL}=${lab.runId}`;
  const list = (...a: string[]) => engine.docker(...a).split('\n').filter(Boolean);
  return {
    containers: list('ps', '-aq', '--filter', f),
    volumes: list('volume', 'ls', '-q', '--filter', f),
    networks: list('network', 'ls', '-q', '--filter', f),
  };
}
const NONE = { containers: [], volumes: [], networks: [] };

function vmDirs(): string[] {
  const r = lab.records();
  return [...r.vms, ...r.creating];
}

/** Starts a CPI call and SIGKILLs it once `when` holds (checked every 10 ms). */
async function killDuring(request: unknown, when: () => boolean): Promise<boolean> {
  const child = spawn(CPI, ['-configPath', lab.configFile], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(JSON.stringify({ context: { director_uuid: 'faults' }, api_version: 2, ...(request as object) }));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  let killed = false;
  for (let i = 0; i < 1000 && child.exitCode === null; i++) {
    if (when()) {
      child.kill('SIGKILL');
      killed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await exited;
  return killed;
}

describe('the engine stops', () => {
  it('before a call: a retryable CloudError (VMCreationFailed for create_vm)', async () => {
    await engine.stop();
    try {
      const has = await lab.call('has_vm', ['c-00000000-0000-4000-8000-000000000000']);
      expect(has.response.error?.type).toBe('Bosh::Clouds::CloudError');
      expect(has.response.error?.message).toContain('is not reachable');
      expect(has.response.error?.ok_to_retry).toBe(true);
      const create = await lab.call('create_vm', ['agent', stemcell, {}, { default: lab.manual(1, 10) }, [], {}]);
      expect(create.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
      expect(create.response.error?.ok_to_retry).toBe(true);
    } finally {
      await engine.start();
    }
  });

  it('during create_vm: the call fails retryably, and the next calls clear what it left', async () => {
    const run = lab.call('create_vm', ['agent-fault', stemcell, {}, { default: lab.manual(2, 20) }, [], {}]);
    // Stop the engine once the container exists, i.e. in the middle of the call.
    for (let i = 0; i < 500 && engine.docker('ps', '-aq', '--filter', 'label=bosh.cpi.agent-id=agent-fault') === ''; i++) await new Promise((r) => setTimeout(r, 10));
    await engine.stop();
    const r = await run;
    await engine.start();
    if (r.response.error) {
      expect(r.response.error.type).toBe('Bosh::Clouds::VMCreationFailed');
      expect(r.response.error.ok_to_retry).toBe(true);
    } else {
      // The engine went down only after the VM was complete: a normal VM, deleted normally.
      await lab.ok('delete_vm', [(r.response.result as [string])[0]]);
    }
    // The Director's follow-up: it retries create_vm, then deletes that VM.
    const vm = await lab.createVm(stemcell, { default: lab.manual(2, 21) });
    await lab.ok('delete_vm', [vm.cid]);
    expect(leftovers()).toEqual(NONE);
    expect(vmDirs()).toEqual([]);
  });
});

describe('the CPI is killed (SIGKILL)', () => {
  it('during create_vm: the next create_vm and delete_vm remove what it left', async () => {
    const killed = await killDuring(
      { method: 'create_vm', arguments: ['agent-killed', stemcell, {}, { default: lab.manual(3, 30) }, [], {}] },
      () => engine.docker('ps', '-aq', '--filter', 'label=bosh.cpi.agent-id=agent-killed') !== '',
    );
    expect(killed).toBe(true);
    expect(leftovers().containers.length).toBeGreaterThan(0);
    // Follow-up calls of a Director: has_vm of what it knows, a retried create_vm, delete_vm.
    expect(await lab.ok('has_vm', ['c-00000000-0000-4000-8000-000000000000'])).toBe(false);
    const vm = await lab.createVm(stemcell, { default: lab.manual(3, 31) });
    const afterSweep = leftovers();
    expect(afterSweep.containers).toHaveLength(1); // only the retried VM
    await lab.ok('delete_vm', [vm.cid]);
    expect(leftovers()).toEqual(NONE);
    expect(vmDirs()).toEqual([]);
  });

  it('during attach_disk, at any moment: detach_disk, has_vm and a new attach converge', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(4, 40) });
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    for (const delay of [5, 20, 40, 60, 80, 100, 130]) {
      const t0 = Date.now();
      await killDuring({ method: 'attach_disk', arguments: [vm.cid, disk] }, () => Date.now() - t0 >= delay);
      expect(await lab.ok('has_vm', [vm.cid])).toBe(true);
      await lab.ok('detach_disk', [vm.cid, disk]);
      expect(await lab.ok('get_disks', [vm.cid])).toEqual([]);
      expect(await lab.ok('attach_disk', [vm.cid, disk])).toBe(`/warden-cpi-dev/${disk}`);
      expect(await lab.ok('get_disks', [vm.cid])).toEqual([disk]);
      await lab.ok('detach_disk', [vm.cid, disk]);
    }
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_disk', [disk]);
    expect(leftovers()).toEqual(NONE);
  });
});

describe('resources vanish behind the CPI\'s back', () => {
  it('a VM removed with docker rm while its disk is attached', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(5, 50) });
    const other = await lab.createVm(stemcell, { default: lab.manual(5, 51) });
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    await lab.ok('attach_disk', [vm.cid, disk]);
    engine.docker('rm', '-f', vm.cid);
    expect(await lab.ok('has_vm', [vm.cid])).toBe(false);
    // The disk moves on; the vanished VM's leftovers are released by the calls that follow.
    await lab.ok('detach_disk', [vm.cid, disk]);
    expect(await lab.ok('attach_disk', [other.cid, disk])).toBe(`/warden-cpi-dev/${disk}`);
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('detach_disk', [other.cid, disk]);
    await lab.ok('delete_disk', [disk]);
    await lab.ok('delete_vm', [other.cid]);
    expect(leftovers()).toEqual(NONE);
    expect(vmDirs()).toEqual([]);
  });

  it('a truncated stemcell tarball leaves no image', async () => {
    const sc = await stemcellFiles('runit');
    const truncated = path.join(path.dirname(lab.configFile), 'truncated-image');
    const full = fs.readFileSync(sc.imagePath);
    fs.writeFileSync(truncated, full.subarray(0, full.length - 1024));
    const before = engine.docker('images', '-aq').split('\n').filter(Boolean).length;
    const r = await lab.call('create_stemcell', [truncated, sc.cloudProperties]);
    expect(r.response.error?.message).toMatch(/is truncated/);
    expect(engine.docker('images', '-aq').split('\n').filter(Boolean).length).toBe(before);
  });
});

describe('the end', () => {
  it('leaves nothing on the engine', async () => {
    await lab.ok('delete_stemcell', [stemcell]);
    expect(leftovers()).toEqual(NONE);
    expect(engine.docker('images', '-q', '--filter', `label=${TEST_LABEL}=${lab.runId}`)).toBe('');
  });
});

