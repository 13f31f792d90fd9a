/**
 * What real hosts do to a CPI: the engine stops in the middle of a call, the CPI is killed with
 * SIGKILL part-way, resources vanish behind its back. Each time the Director's follow-up calls
 * must converge and nothing may be left. The engine here is this file's own (PrivateEngine), so
 * stopping it disturbs no other test.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
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
  lab.engineDir(); // learnt while the engine answers: tests look at records while it is stopped
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

/** Starts a CPI call; SIGKILLs it once `when` holds (checked every 10 ms). Returns how it ended. */
async function killDuring(request: unknown, when: () => boolean): Promise<{ killed: boolean; signal: NodeJS.Signals | null; stdout: string }> {
  const child = spawn(CPI, ['-configPath', lab.configFile], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(JSON.stringify({ context: { director_uuid: 'faults' }, api_version: 2, ...(request as object) }));
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
  let killed = false;
  for (let i = 0; i < 1000 && child.exitCode === null; i++) {
    if (when()) {
      child.kill('SIGKILL');
      killed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { killed, signal: await exited, stdout };
}

/** Starts a call paused at a failpoint (see src/runtime/failpoint.ts); resolves once it is there. */
async function pausedAt(failpoint: string, method: string, args: unknown[]) {
  const gate = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gate-')), 'fp');
  const run = lab.call(method, args, { env: { BOSH_CPI_FAILPOINT: `${failpoint}:pause:${gate}` } });
  for (let i = 0; i < 2000 && !fs.existsSync(`${gate}.reached`); i++) await new Promise((r) => setTimeout(r, 10));
  expect(fs.existsSync(`${gate}.reached`)).toBe(true);
  return { run, release: () => fs.writeFileSync(`${gate}.release`, '') };
}

const vmContainers = (agent: string) => engine.docker('ps', '-aq', '--filter', `label=bosh.cpi.agent-id=${agent}`).split('\n').filter(Boolean);

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

  it('during create_vm, after its container exists: the call fails retryably, and the next calls clear what it left', async () => {
    const paused = await pausedAt('create_vm.after-container', 'create_vm', ['agent-fault', stemcell, {}, { default: lab.manual(2, 20) }, [], {}]);
    // The call is in the middle: its container and volume exist, it has not started them.
    expect(vmContainers('agent-fault')).toHaveLength(1);
    await engine.stop();
    paused.release();
    const r = await paused.run;
    expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(r.response.error?.message).toContain('is not reachable');
    expect(r.response.error?.ok_to_retry).toBe(true);
    // It could not clean up with the engine gone: its marker is handed over to the next call.
    expect(lab.records().creating).toHaveLength(1);
    await engine.start();
    expect(vmContainers('agent-fault')).toHaveLength(1);
    // The Director's follow-up: it retries create_vm, then deletes that VM.
    const vm = await lab.createVm(stemcell, { default: lab.manual(2, 21) });
    expect(vmContainers('agent-fault')).toEqual([]);
    await lab.ok('delete_vm', [vm.cid]);
    expect(leftovers()).toEqual(NONE);
    expect(vmDirs()).toEqual([]);
  });
});

describe('the CPI is killed (SIGKILL)', () => {
  it('during create_vm, after its container exists: the next create_vm removes what it left', async () => {
    const run = await lab.call('create_vm', ['agent-killed', stemcell, {}, { default: lab.manual(3, 30) }, [], {}], { env: { BOSH_CPI_FAILPOINT: 'create_vm.after-container' } });
    expect(run.signal).toBe('SIGKILL');
    expect(vmContainers('agent-killed')).toHaveLength(1);
    expect(lab.records().creating).toHaveLength(1);
    // Follow-up calls of a Director: has_vm of what it knows, a retried create_vm, delete_vm.
    expect(await lab.ok('has_vm', ['c-00000000-0000-4000-8000-000000000000'])).toBe(false);
    const vm = await lab.createVm(stemcell, { default: lab.manual(3, 31) });
    expect(vmContainers('agent-killed')).toEqual([]);
    expect(leftovers().containers).toHaveLength(1); // only the retried VM
    await lab.ok('delete_vm', [vm.cid]);
    expect(leftovers()).toEqual(NONE);
    expect(vmDirs()).toEqual([]);
  });

  it('during attach_disk between its mount and its settings update: a retried attach completes it', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(4, 41) });
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    const run = await lab.call('attach_disk', [vm.cid, disk], { env: { BOSH_CPI_FAILPOINT: 'attach.after-mount' } });
    expect(run.signal).toBe('SIGKILL');
    // Observably half done: mounted, but the agent's settings do not name the disk yet.
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([disk]);
    expect(JSON.parse(engine.docker('exec', vm.cid, 'cat', '/var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent).toEqual({});
    expect(await lab.ok('attach_disk', [vm.cid, disk])).toBe(`/warden-cpi-dev/${disk}`);
    expect(JSON.parse(engine.docker('exec', vm.cid, 'cat', '/var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent).toEqual({ [disk]: `/warden-cpi-dev/${disk}` });
    await lab.ok('detach_disk', [vm.cid, disk]);
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_disk', [disk]);
  });

  it('during attach_disk, at seven moments: each kill lands before the answer, and detach_disk, has_vm and a new attach converge', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(4, 40) });
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    // How long an attach takes here and now: the kill moments are fractions of it.
    const t = Date.now();
    await lab.ok('attach_disk', [vm.cid, disk]);
    const full = Date.now() - t;
    await lab.ok('detach_disk', [vm.cid, disk]);
    const landed: number[] = [];
    for (const fraction of [0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9]) {
      // A call that answered before its kill proves nothing: that moment is tried again, earlier.
      // The signal can be sent after the answer is written (the child is exiting, its exit not yet
      // seen), so a kill counts only if the process died by it without an answer.
      let k = { killed: false, signal: null as NodeJS.Signals | null, stdout: '' };
      const inTime = () => k.killed && k.signal === 'SIGKILL' && k.stdout === '';
      for (let attempt = 0; attempt < 5 && !inTime(); attempt++) {
        if (attempt > 0) await lab.ok('detach_disk', [vm.cid, disk]);
        const delay = Math.round(fraction * full * 0.7 ** attempt);
        const t0 = Date.now();
        k = await killDuring({ method: 'attach_disk', arguments: [vm.cid, disk] }, () => Date.now() - t0 >= delay);
        if (inTime()) landed.push(delay);
      }
      // The kill landed mid-call: the process died by it, before it wrote an answer.
      expect(k).toEqual({ killed: true, signal: 'SIGKILL', stdout: '' });
      expect(await lab.ok('has_vm', [vm.cid])).toBe(true);
      await lab.ok('detach_disk', [vm.cid, disk]);
      expect(await lab.ok('get_disks', [vm.cid])).toEqual([]);
      expect(await lab.ok('attach_disk', [vm.cid, disk])).toBe(`/warden-cpi-dev/${disk}`);
      expect(await lab.ok('get_disks', [vm.cid])).toEqual([disk]);
      await lab.ok('detach_disk', [vm.cid, disk]);
    }
    expect(landed).toHaveLength(7);
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_disk', [disk]);
    expect(leftovers()).toEqual(NONE);
    process.stdout.write(`faults: attach_disk takes ${full} ms here; killed at ${landed.join(', ')} ms\n`);
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

