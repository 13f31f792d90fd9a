/**
 * Every engine request is bounded: an engine that accepts and never answers, answers half and
 * stalls, drips a byte a second, closes mid-body, sends a short body or garbage gets a typed,
 * retryable answer within its bound, and nothing is left behind. A proxy in front of the real
 * engine stalls one step of create_vm: the call gives up within the bound and undoes its work.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { call, writeConfig } from '../helpers/cpi';
import { FakeEngine, StallingProxy, type Misbehaviour } from '../helpers/fake-engine';
import { docker, execIn, inspect, TEST_LABEL } from '../helpers/docker';
import { dockerUser, Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const BOUNDS = { connect_timeout_seconds: 1, idle_timeout_seconds: 1, request_timeout_seconds: 3 };
/** Node's start and the CPI's own work on top of a bound, generously (these machines drift). */
const SLACK_MS = 2500;

async function hasVmAgainst(host: string, stateDir: string) {
  const config = writeConfig({ docker: { host, ...BOUNDS }, state_dir: stateDir });
  const started = Date.now();
  const run = await call({ method: 'has_vm', arguments: ['c-00000000-0000-4000-8000-000000000000'] }, { args: ['-configPath', config] });
  return { run, ms: Date.now() - started };
}

describe('a misbehaving engine', () => {
  const cases: Array<[Misbehaviour, number, RegExp]> = [
    ['silent', 1000, /sent nothing for 1 s \(docker\.idle_timeout_seconds\) during GET \/containers\/json/],
    ['half-then-stall', 1000, /sent nothing for 1 s \(docker\.idle_timeout_seconds\) during GET \/containers\/json/],
    ['drip', 3000, /did not finish GET \/containers\/json within 3 s \(docker\.request_timeout_seconds\)/],
    ['close-mid-body', 0, /answered GET \/containers\/json incompletely/],
    ['short-body', 0, /answered GET \/containers\/json incompletely/],
    ['garbage', 0, /answered GET \/containers\/json with malformed HTTP/],
  ];
  it.each(cases)('%s: a retryable CloudError naming the engine, the request and the bound, within it', async (how, boundMs, message) => {
    const fake = new FakeEngine(how);
    await fake.listen();
    const stateDir = fs.mkdtempSync(path.join(path.dirname(fake.socket), 'state-'));
    try {
      const { run, ms } = await hasVmAgainst(fake.host, stateDir);
      expect(run.code).toBe(0);
      expect(run.response.result).toBeNull();
      expect(run.response.error?.type).toBe('Bosh::Clouds::CloudError');
      expect(run.response.error?.message).toContain(`the Docker engine at ${fake.host}`);
      expect(run.response.error?.message).toMatch(message);
      expect(run.response.error?.ok_to_retry).toBe(true);
      // The fault landed where intended: the request reached the fake and was answered badly.
      expect(fake.seen).toEqual([expect.stringMatching(/^GET \/v1\.41\/containers\/json\?/)]);
      expect(ms).toBeGreaterThanOrEqual(boundMs);
      expect(ms).toBeLessThan(boundMs + SLACK_MS);
      expect(run.stdout).not.toMatch(/\n {4}at /); // no stack trace
      // The CPI process is gone and so are its connections; it left no state behind.
      await new Promise((r) => setTimeout(r, 100));
      expect(fake.openConnections()).toBe(0);
      expect(fs.readdirSync(stateDir)).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});

describe('an engine that hangs in the middle of create_vm', () => {
  const lab = new Lab('bounds', SUBNETS.bounds);
  let stemcell: string;
  let proxy: StallingProxy;
  beforeAll(async () => {
    stemcell = await lab.stemcell('runit');
    proxy = new StallingProxy(/^POST \/v[\d.]+\/containers\/[^/]+\/start$/);
    await proxy.listen();
  });
  afterAll(async () => {
    await proxy.close();
    expect(await lab.finish()).toEqual(NOTHING_LEFT);
  });

  it('gives up within the bound, retryably, and removes the container, volume, network and state it made', async () => {
    const started = Date.now();
    const run = await lab.call('create_vm', ['agent-hung', stemcell, {}, { default: lab.manual(1, 10) }, [], {}], {
      context: { director_uuid: 'bounds', docker: { host: proxy.host, ...BOUNDS } },
    });
    const ms = Date.now() - started;
    // The stall landed on the container start: the container existed when the engine went quiet.
    expect(proxy.stalled).toEqual([expect.stringMatching(/^POST \/v[\d.]+\/containers\/[0-9a-f]{64}\/start$/)]);
    expect(run.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(run.response.error?.message).toMatch(/sent nothing for 1 s \(docker\.idle_timeout_seconds\) during POST \/containers\/[0-9a-f]+\/start/);
    expect(run.response.error?.ok_to_retry).toBe(true);
    expect(ms).toBeLessThan(3000 + 2 * SLACK_MS);
    const left = await lab.leftovers();
    expect(left).toEqual({ containers: [], volumes: [], networks: [], images: [expect.any(String)] });
    expect(lab.records()).toEqual({ vms: [], creating: [] });
  });
});

describe('a disk helper container that never finishes', () => {
  // Helper mode: the CPI is not root, the state dir's mount propagates (as / does on systemd hosts).
  const proxy = new StallingProxy(/^POST \/v[\d.]+\/containers\/[0-9a-f]+\/wait$/);
  const lab = new Lab('bounds-helper', SUBNETS.bounds, { docker: { host: proxy.host, ...BOUNDS, request_timeout_seconds: 10, helper_timeout_seconds: 2 } });
  const shared = path.dirname(lab.stateDir);
  let stemcell: string;
  beforeAll(async () => {
    await proxy.listen();
    fs.chmodSync(path.dirname(proxy.socket), 0o755);
    fs.chmodSync(proxy.socket, 0o777);
    execFileSync('mount', ['--bind', shared, shared]);
    execFileSync('mount', ['--make-shared', shared]);
    lab.runAs(dockerUser());
    stemcell = await lab.stemcell('runit');
  }, 120_000);
  afterAll(async () => {
    const left = await lab.finish(); // through the proxy: it must still be there
    await proxy.close();
    execFileSync('umount', ['-R', shared]);
    expect(left).toEqual(NOTHING_LEFT);
  });

  it('is given up after helper_timeout_seconds and removed; the attach fails retryably, and its retry completes it', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(2, 10) });
    expect((await inspect('container', vm.cid)).Config.Labels['bosh.cpi.disk-mode']).toBe('helper');
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    const started = Date.now();
    const run = await lab.call('attach_disk', [vm.cid, disk]);
    expect(Date.now() - started).toBeLessThan(2000 + SLACK_MS);
    expect(proxy.stalled).toEqual([expect.stringMatching(/^POST \/v[\d.]+\/containers\/[0-9a-f]+\/wait$/)]);
    expect(run.response.error?.type).toBe('Bosh::Clouds::CloudError');
    expect(run.response.error?.message).toMatch(/did not finish POST \/containers\/[0-9a-f]+\/wait within 2 s \(docker\.helper_timeout_seconds\)/);
    expect(run.response.error?.ok_to_retry).toBe(true);
    expect(await docker('ps', '-aq', '--filter', 'label=bosh.cpi.helper=disk', '--filter', `label=${TEST_LABEL}=${lab.runId}`)).toBe('');
    expect(JSON.parse(await execIn(vm.cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent).toEqual({});
    // The engine answers again: the Director's retry finds whatever the helper did and completes it.
    proxy.setStall(/^$/);
    expect(await lab.ok('attach_disk', [vm.cid, disk])).toBe(`/warden-cpi-dev/${disk}`);
    expect(JSON.parse(await execIn(vm.cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent).toEqual({ [disk]: `/warden-cpi-dev/${disk}` });
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([disk]);
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_disk', [disk]);
  });
});
