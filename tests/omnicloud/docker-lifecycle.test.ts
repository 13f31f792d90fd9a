/**
 * The shipped `docker` provider (docker CLI, container-guide style) carrying BOSH through
 * bin/cpi on the real engine: stemcell import, VM and disk lifecycle with live attach, reboot,
 * failure clean-up, and nothing leaked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanupLabelled, docker, exists, inspect, requireDocker, TEST_LABEL, testRunId } from '../helpers/docker';
import { SECRETS } from '../helpers/secrets';
import { buildStemcell } from '../helpers/stemcell';
import { tmpDir } from './helpers';
import { mountsUnder, unmountAll } from '../helpers/lab';
import { cpi, expectNothingLeft, lifecycleConfig, ok, runLifecycle, startedAt, type Lifecycle } from './lifecycle';

const RUN = testRunId('omni-docker');
const dir = tmpDir('omni-docker-');
let l: Lifecycle;
let stemcell = '';

beforeAll(async () => {
  requireDocker();
  l = lifecycleConfig(RUN, dir, 'docker');
  const built = await buildStemcell({ init: 'runit' }, dir);
  // create_stemcell → the provider's import_image (docker import, labelled from config.labels).
  stemcell = await ok<string>(l, 'create_stemcell', [built.imagePath, built.cloudProperties]);
});

afterAll(async () => {
  const left = await cleanupLabelled(RUN);
  unmountAll(l.stateDir);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(left).toEqual({ containers: [], volumes: [], networks: [], images: [] });
});

describe('docker provider through the BOSH bridge', () => {
  it('imports the stemcell as a labelled image', async () => {
    expect(stemcell).toMatch(/^stemcell-[0-9a-f-]{36}$/);
    expect((await inspect('image', stemcell))['Config']['Labels'][TEST_LABEL]).toBe(RUN);
  });

  it('carries a VM lifecycle: create_vm, has_vm, create_disk, attach_disk (live), detach_disk, delete_disk, delete_vm', async () => {
    await runLifecycle(l, stemcell, { getDisks: true });
  });

  it('delivers the agent settings, restarts on reboot_vm, and removes its files with the VM', async () => {
    const [vm] = await ok<[string]>(l, 'create_vm', ['agent-omni-2', stemcell, {}, { n: { type: 'dynamic' } }, [], { bosh: { password: 'x' } }]);
    const settings = JSON.parse(await docker('exec', vm, 'cat', '/var/vcap/bosh/warden-cpi-agent-env.json'));
    expect(settings).toMatchObject({
      agent_id: 'agent-omni-2',
      vm: { name: vm },
      mbus: `https://mbus:${SECRETS.mbusPassword}@0.0.0.0:6868`,
      ntp: ['0.pool.ntp.org'],
      networks: { n: { type: 'dynamic', preconfigured: true } },
      disks: { system: '', ephemeral: null, persistent: {} },
      env: { bosh: { password: 'x' } },
    });
    const before = await startedAt(vm);
    await ok(l, 'reboot_vm', [vm]);
    expect(await startedAt(vm)).not.toBe(before);
    await ok(l, 'delete_vm', [vm]);
    expect(fs.existsSync(path.join(l.stateDir, 'settings', `${vm}.json`))).toBe(false);
    expect(fs.existsSync(path.join(l.stateDir, 'disks', vm))).toBe(false);
    // Deleting it again: the container is gone, and the CLI's `rm --force` says so without failing.
    expect((await cpi(l, 'delete_vm', [vm])).error).toBeNull();
  });

  it('a failed create_vm leaves nothing behind', async () => {
    const r = await cpi(l, 'create_vm', ['agent-omni-3', 'no-such-stemcell-image', {}, {}, [], {}]);
    expect(r.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(r.error?.message).toMatch(/No such image/i);
    expect(await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}=${RUN}`)).toBe('');
    expect(fs.readdirSync(path.join(l.stateDir, 'settings'))).toEqual([]);
    expect(fs.readdirSync(path.join(l.stateDir, 'disks'))).toEqual([]);
  });

  it('errors map to BOSH errors: a missing disk is DiskNotFound, attaching to a missing VM is a CloudError naming it', async () => {
    expect((await cpi(l, 'delete_disk', ['disk-does-not-exist'])).error?.type).toBe('Bosh::Clouds::DiskNotFound');
    const a = await cpi(l, 'attach_disk', ['vm-does-not-exist', 'disk-does-not-exist']);
    expect(a.error?.type).toBe('Bosh::Clouds::CloudError');
    expect(a.error?.message).toMatch(/No such container: vm-does-not-exist/);
    expect(await cpi(l, 'has_disk', ['disk-does-not-exist'])).toMatchObject({ result: false, error: null });
  });

  it('creates and deletes a Director-managed network as a labelled Docker network with its subnet', async () => {
    // 10.211.0.0/16 is this engine's share of the test subnets (main's tests/helpers/lab.ts SUBNETS.omnicloud):
    // Docker refuses overlapping subnets across the suites that share the engine.
    const net = '10.211.1';
    const [id, subnet, cp] = await ok<[string, unknown, unknown]>(l, 'create_network', [{ type: 'manual', range: `${net}.0/24`, gateway: `${net}.1`, cloud_properties: {} }]);
    expect(id).toMatch(/^net-[0-9a-f-]{36}$/);
    expect([subnet, cp]).toEqual([{ range: `${net}.0/24`, gateway: `${net}.1`, reserved: [] }, {}]);
    const n = await inspect('network', id);
    expect(n['Labels'][TEST_LABEL]).toBe(RUN);
    expect(n['IPAM']['Config']).toEqual([{ Subnet: `${net}.0/24`, Gateway: `${net}.1` }]);
    await ok(l, 'delete_network', [id]);
    expect(await exists('network', id)).toBe(false);
    expect((await cpi(l, 'delete_network', [id])).error).toBeNull();
  });

  it('deletes the stemcell, idempotently, and leaves nothing', async () => {
    await ok(l, 'delete_stemcell', [stemcell]);
    expect(await exists('image', stemcell)).toBe(false);
    expect((await cpi(l, 'delete_stemcell', [stemcell])).error).toBeNull();
    await expectNothingLeft(RUN, [stemcell]);
    expect(mountsUnder(l.stateDir)).toEqual([path.join(l.stateDir, 'disks')]);
  });
});
