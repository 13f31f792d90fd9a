/**
 * The configuration's privileged default on an engine that cannot start privileged containers
 * (src/docker/vm/security.ts). The engine is a private one whose capability bounding set lacks
 * CAP_SYS_RESOURCE, as Debian's docker.io has it on these hosts: so the test means the same on
 * any machine. The configuration leaves `privileged` at its default (true).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { call, ok, writeConfig } from '../helpers/cpi';
import { requireDocker, TEST_LABEL, testRunId } from '../helpers/docker';
import { stemcellFiles, unmountAll } from '../helpers/lab';
import { PrivateEngine } from '../helpers/private-engine';

const WARNING = /this Docker host cannot start privileged containers \(.*unable to apply caps.*\): the VM runs unprivileged instead, with CAP_SYS_ADMIN/;

describe('privileged by default, on an engine that cannot start privileged containers', () => {
  requireDocker();
  const engine = new PrivateEngine('privilege');
  const runId = testRunId('privilege');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpi-privilege-'));
  const config = writeConfig({ docker: { host: engine.host }, agent: { mbus: 'https://mbus:p@0.0.0.0:6868' }, state_dir: path.join(dir, 'state'), labels: { [TEST_LABEL]: runId } }, dir);
  const args = ['-configPath', config];
  let stemcell: string;
  let n = 10;
  const networks = () => ({ default: { type: 'manual', ip: `10.227.1.${n++}`, netmask: '255.255.255.0', gateway: '10.227.1.1', cloud_properties: { name: `priv-${runId}` } } });
  /** Containers the engine created for `agent` since `since` (unix seconds: one-second steps, so by agent too), by name. */
  const createdSince = (since: number, agent: string) =>
    engine
      .docker('events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'type=container', '--filter', 'event=create', '--filter', `label=bosh.cpi.agent-id=${agent}`, '--format', '{{.Actor.Attributes.name}}')
      .split('\n')
      .filter((x) => x.startsWith('c-'));

  beforeAll(async () => {
    await engine.start(['setpriv', '--bounding-set', '-sys_resource']);
    const sc = await stemcellFiles('runit');
    stemcell = await ok<string>({ method: 'create_stemcell', arguments: [sc.imagePath, sc.cloudProperties] }, { args });
  }, 120_000);

  afterAll(async () => {
    await engine.destroy();
    unmountAll(dir); // what a failed test's VM left mounted
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the engine really refuses privileged containers', () => {
    expect(() => engine.docker('run', '--rm', '--privileged', '--network', 'none', stemcell, '/bin/true')).toThrow(/unable to apply caps/);
  });

  it('starts the first VM unprivileged after one refused start, saying why', async () => {
    const since = Math.floor(Date.now() / 1000);
    const r = await call({ method: 'create_vm', arguments: ['agent-1', stemcell, {}, networks(), [], {}] }, { args });
    expect(r.response.error).toBeNull();
    expect(r.response.log).toMatch(WARNING);
    const [cid] = r.response.result as [string];
    const c = JSON.parse(engine.docker('inspect', cid))[0];
    expect([c.State.Running, c.HostConfig.Privileged]).toEqual([true, false]);
    // The refused attempt (another CID) was created, failed to start, and is gone.
    expect(createdSince(since, 'agent-1')).toHaveLength(2);
    expect(engine.docker('ps', '-aq', '--filter', 'label=bosh.cpi.managed=true').split('\n').filter(Boolean)).toHaveLength(1);
    await ok({ method: 'delete_vm', arguments: [cid] }, { args });
  });

  it('starts later VMs unprivileged at once: the refusal is remembered for this engine', async () => {
    const since = Math.floor(Date.now() / 1000);
    const r = await call({ method: 'create_vm', arguments: ['agent-2', stemcell, {}, networks(), [], {}] }, { args });
    expect(r.response.log).toMatch(WARNING);
    const [cid] = r.response.result as [string];
    expect(createdSince(since, 'agent-2')).toEqual([cid]);
    await ok({ method: 'delete_vm', arguments: [cid] }, { args });
  });

  it('refuses a VM whose own cloud_properties ask for privileged, leaving nothing', async () => {
    const r = await call({ method: 'create_vm', arguments: ['agent-3', stemcell, { privileged: true }, networks(), [], {}] }, { args });
    expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(r.response.error?.message).toMatch(/^this Docker host cannot start privileged containers \(.*unable to apply caps.*\); .*Set privileged: false/);
    expect(engine.docker('ps', '-aq', '--filter', 'label=bosh.cpi.managed=true')).toBe('');
  });

  it('with privileged: false configured, neither tries nor warns', async () => {
    const quiet = writeConfig({ docker: { host: engine.host }, agent: { mbus: 'https://mbus:p@0.0.0.0:6868' }, state_dir: path.join(dir, 'state-unprivileged'), labels: { [TEST_LABEL]: runId }, privileged: false }, fs.mkdtempSync(path.join(dir, 'q-')));
    const since = Math.floor(Date.now() / 1000);
    const r = await call({ method: 'create_vm', arguments: ['agent-4', stemcell, {}, networks(), [], {}] }, { args: ['-configPath', quiet] });
    expect(r.response.error).toBeNull();
    expect(r.response.log).not.toMatch(/privileged/);
    const [cid] = r.response.result as [string];
    expect(createdSince(since, 'agent-4')).toEqual([cid]);
    await ok({ method: 'delete_vm', arguments: [cid] }, { args: ['-configPath', quiet] });
  });
});
