/**
 * Every engine request is bounded: an engine that accepts and never answers, answers half and
 * stalls, drips a byte a second, closes mid-body, sends a short body or garbage gets a typed,
 * retryable answer within its bound, and nothing is left behind. A proxy in front of the real
 * engine stalls one step of create_vm: the call gives up within the bound and undoes its work.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { call, writeConfig } from '../helpers/cpi';
import { FakeEngine, StallingProxy, type Misbehaviour } from '../helpers/fake-engine';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

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
