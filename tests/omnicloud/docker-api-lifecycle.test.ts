/**
 * The shipped `docker-api` provider (Endpoint targets on the Engine API over the unix socket)
 * carrying BOSH through bin/cpi on the real engine, with live attach through helper containers,
 * and nothing leaked.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanupLabelled, docker, exists, inspect, requireDocker, TEST_LABEL, testRunId } from '../helpers/docker';
import { buildStemcell } from '../helpers/stemcell';
import { tmpDir } from './helpers';
import { mountsUnder, unmountAll } from '../helpers/lab';
import { cpi, expectNothingLeft, lifecycleConfig, ok, runLifecycle, type Lifecycle } from './lifecycle';

const RUN = testRunId('omni-docker-api');
const dir = tmpDir('omni-docker-api-');
let l: Lifecycle;
let stemcell = '';

beforeAll(async () => {
  requireDocker();
  l = lifecycleConfig(RUN, dir, 'docker-api');
  // The operator's one-time host preparation the provider documents: a shared disks directory.
  const disks = path.join(l.stateDir, 'disks');
  fs.mkdirSync(disks, { recursive: true });
  execFileSync('mount', ['--bind', disks, disks]);
  execFileSync('mount', ['--make-rshared', disks]);
  // create_stemcell → import_image: the stemcell file streamed into the engine's images/create.
  const built = await buildStemcell({ init: 'runit' }, dir);
  stemcell = await ok<string>(l, 'create_stemcell', [built.imagePath, built.cloudProperties]);
});

afterAll(async () => {
  const left = await cleanupLabelled(RUN);
  unmountAll(l.stateDir);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(left).toEqual({ containers: [], volumes: [], networks: [], images: [] });
});

describe('docker-api provider through the BOSH bridge', () => {
  it('imports the stemcell as the image <cid>:latest', async () => {
    expect(stemcell).toMatch(/^stemcell-[0-9a-f-]{36}$/);
    expect((await inspect('image', stemcell))['RepoTags']).toEqual([`${stemcell}:latest`]);
  });

  it('carries a VM lifecycle: create_vm, has_vm, create_disk, attach_disk (live), detach_disk, delete_disk, delete_vm', async () => {
    await runLifecycle(l, stemcell, { getDisks: false });
    // Helper containers are removed after each attach, detach and delete.
    expect(await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}=${RUN}`)).toBe('');
  });

  it('a failed create_vm leaves nothing behind; a missing VM is VMNotFound on reboot', async () => {
    const r = await cpi(l, 'create_vm', ['agent-x', 'no-such-stemcell-image', {}, {}, [], {}]);
    expect(r.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(r.error?.message).toMatch(/answered 404: \{"message":"No such image: no-such-stemcell-image:latest"\}/);
    expect(await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}=${RUN}`)).toBe('');
    const reboot = await cpi(l, 'reboot_vm', ['vm-does-not-exist']);
    expect(reboot.error?.type).toBe('Bosh::Clouds::VMNotFound');
    expect((await cpi(l, 'delete_vm', ['vm-does-not-exist'])).error?.type).toBe('Bosh::Clouds::VMNotFound');
  });

  it('on a host whose disks directory is not shared, create_vm fails with the engine\'s reason and leaves nothing', async () => {
    const unprepared = lifecycleConfig(RUN, fs.mkdtempSync(path.join(dir, 'unprepared-')), 'docker-api');
    const r = await cpi(unprepared, 'create_vm', ['agent-y', stemcell, {}, {}, [], {}]);
    expect(r.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(r.error?.message).toMatch(/is not a shared or slave mount/);
    // The clean-up removed the created container although it could not unmount anything.
    expect(await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}=${RUN}`)).toBe('');
    expect(r.log).toMatch(/failed and is allowed to/);
  });

  it('creates and deletes a Director-managed network with its subnet', async () => {
    // 10.211.0.0/16: see docker-lifecycle.test.ts.
    const net = '10.211.2';
    const [id] = await ok<[string]>(l, 'create_network', [{ type: 'manual', range: `${net}.0/24`, gateway: `${net}.1`, cloud_properties: {} }]);
    const n = await inspect('network', id);
    expect([n['Labels'][TEST_LABEL], n['IPAM']['Config']]).toEqual([RUN, [{ Subnet: `${net}.0/24`, Gateway: `${net}.1` }]]);
    await ok(l, 'delete_network', [id]);
    expect(await exists('network', id)).toBe(false);
  });

  it('deletes the stemcell, idempotently, and leaves nothing on the engine and no mounts but the prepared directory', async () => {
    await ok(l, 'delete_stemcell', [stemcell]);
    expect((await cpi(l, 'delete_stemcell', [stemcell])).error).toBeNull();
    await expectNothingLeft(RUN, [stemcell]);
    expect(await exists('image', stemcell)).toBe(false);
    expect(mountsUnder(l.stateDir)).toEqual([path.join(l.stateDir, 'disks')]);
  });
});
