/** Every way create_vm can fail: a precise VMCreationFailed, and nothing left behind. */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { docker, freePort, labelled, TEST_LABEL } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';
import { call, writeConfig } from '../helpers/cpi';

const lab = new Lab('failures', SUBNETS.failures);
let stemcell: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
});
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

/** Only the stemcell image and what `keep` names may carry this file's label. */
async function expectNothingLeft(keep: { containers?: string[]; volumes?: string[]; networks?: string[] } = {}): Promise<void> {
  const left = await labelled(lab.runId);
  expect(left.containers).toEqual(keep.containers ?? []);
  expect(left.volumes).toEqual(keep.volumes ?? []);
  expect(left.networks.length).toBe((keep.networks ?? []).length);
  const records = lab.records();
  expect(records.vms.length).toBe((keep.containers ?? []).length);
  expect(records.creating).toEqual([]);
}

async function failCreate(cloudProperties: Record<string, unknown>, networks: Record<string, unknown>, sc = stemcell) {
  const run = await lab.call('create_vm', ['agent-fail', sc, cloudProperties, networks, [], {}]);
  expect(run.code).toBe(0);
  expect(run.response.result).toBeNull();
  expect(run.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
  expect(run.response.log).toContain('create_vm failed');
  return run.response.error as { type: string; message: string; ok_to_retry: boolean };
}

describe('create_vm failures', () => {
  it('an unknown stemcell', async () => {
    const e = await failCreate({}, { default: lab.manual(1, 10) }, 'bosh.io/stemcells:img-00000000-0000-4000-8000-000000000000');
    expect(e).toEqual({ type: 'Bosh::Clouds::VMCreationFailed', message: "stemcell 'bosh.io/stemcells:img-00000000-0000-4000-8000-000000000000' not found: no such image on the Docker engine", ok_to_retry: false });
    await expectNothingLeft();
  });

  it('a static IP another VM holds', async () => {
    const holder = await lab.createVm(stemcell, { default: lab.manual(2, 20) });
    const e = await failCreate({}, { default: lab.manual(2, 20) });
    expect(e.message).toBe(`ip ${lab.ip(2, 20)} of network 'default' is already used by container ${holder.cid} on Docker network bosh-10.${lab.octet}.2.0-24`);
    expect(e.ok_to_retry).toBe(false);
    await expectNothingLeft({ containers: [expect.any(String)], volumes: [`vol-eph-${holder.cid}`], networks: ['kept for the holder'] } as never);
    await lab.ok('delete_vm', [holder.cid]);
    await expectNothingLeft();
  });

  it('a host port already taken', async () => {
    const port = await freePort();
    const server = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const e = await failCreate({ ports: [`127.0.0.1:${port}:6868/tcp`] }, { default: lab.manual(3, 30) });
      expect(e.message).toMatch(new RegExp(`^port 127\\.0\\.0\\.1:${port} is already in use on the Docker host`));
      await expectNothingLeft();
    } finally {
      server.close();
    }
  });

  it.each([
    [{ memory: 'lots' }, 'invalid cloud_properties: memory: must be a number, got a string'],
    [{ NetworkMode: 'host' }, 'invalid cloud_properties: NetworkMode is managed by the CPI and cannot be set'],
    [{ cpus: 100000 }, /^cpus 100000 exceeds the \d+ CPUs of the Docker host$/],
    [{ memory: 1073741824 }, /^memory 1073741824 MiB exceeds the Docker host's [\d.]+ GiB \(memory is in MiB here; Docker's Memory key takes bytes\)$/],
    [{ Mounts: [{ Type: 'bind', Source: '/tmp', Target: '/var/vcap/data' }] }, 'a mount at /var/vcap/data would hide what the CPI mounts there'],
  ])('bad cloud_properties %j', async (cp, message) => {
    const e = await failCreate(cp, { default: lab.manual(4, 40) });
    if (typeof message === 'string') expect(e.message).toContain(message);
    else expect(e.message).toMatch(message);
    await expectNothingLeft();
  });

  it('a vip network', async () => {
    const e = await failCreate({}, { default: lab.manual(5, 50), public: { type: 'vip', ip: '203.0.113.5', cloud_properties: {} } });
    expect(e.message).toBe("network 'public': vip networks are not supported by the Docker CPI: a container gets its addresses from the Docker networks it joins");
    await expectNothingLeft();
  });

  it('a privileged container on a host that cannot start one, or a privileged VM where it can', async () => {
    let hostCanRunPrivileged = true;
    try {
      await docker('run', '--rm', '--privileged', '--label', `${TEST_LABEL}=${lab.runId}`, stemcell, '/bin/true');
    } catch {
      hostCanRunPrivileged = false;
    }
    const networks = { default: lab.manual(6, 60) };
    if (hostCanRunPrivileged) {
      const vm = await lab.createVm(stemcell, networks, { privileged: true });
      await lab.ok('delete_vm', [vm.cid]);
    } else {
      const e = await failCreate({ privileged: true }, networks);
      expect(e.message).toMatch(/^this Docker host cannot start privileged containers \(.*\); .* Set privileged: false in the VM's cloud_properties or the CPI's config$/);
    }
    await expectNothingLeft();
  });

  it.each([
    ['exits at once', '#!/bin/sh\necho "agent: cannot read /var/vcap/bosh/agent.json" >&2\nexit 3\n', /exited with code 3 right after it started \(runit start: \/usr\/sbin\/runsvdir-start\); its last output: agent: cannot read \/var\/vcap\/bosh\/agent\.json$/],
    ['dies within the settle window', '#!/bin/sh\nsleep 0.02\necho "runsvdir: fatal" >&2\nexit 111\n', /exited with code 111 right after it started .*runsvdir: fatal$/],
  ])('a stemcell whose init %s: VMCreationFailed with the exit code and its last output, nothing left', async (_what, script, message) => {
    const broken = await lab.stemcellWith({ init: 'runit', name: `broken-init-${_what.replace(/ /g, '-')}`, executables: { 'usr/sbin/runsvdir-start': script } });
    const e = await failCreate({}, { default: lab.manual(8, 80) }, broken);
    expect(e.message).toMatch(/^VM c-[0-9a-f-]+'s container /);
    expect(e.message).toMatch(message);
    expect(e.ok_to_retry).toBe(false);
    await expectNothingLeft();
  });

  it('an engine that does not answer is worth a retry', async () => {
    const cfg = JSON.parse(fs.readFileSync(lab.configFile, 'utf8'));
    const file = writeConfig({ ...cfg, docker: { host: 'unix:///nonexistent/docker.sock' } });
    const run = await call({ method: 'create_vm', arguments: ['agent-x', stemcell, {}, { default: lab.manual(7, 70) }, [], {}] }, { args: ['-configPath', file] });
    expect(run.response.error).toEqual({
      type: 'Bosh::Clouds::VMCreationFailed',
      message: 'the Docker engine at unix:///nonexistent/docker.sock is not reachable: no socket at /nonexistent/docker.sock (ENOENT); is dockerd running?',
      ok_to_retry: true,
    });
  });
});
