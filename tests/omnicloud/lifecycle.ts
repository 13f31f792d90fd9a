/**
 * A BOSH VM lifecycle through bin/cpi with `backend: omnicloud` on the real Docker engine, shared
 * by the docker (CLI) and docker-api (Engine API) provider suites. Every resource carries the
 * suite's label; the suite checks the engine after each call and that nothing leaked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { call, type CpiResponse } from '../helpers/cpi';
import { docker, exists, inspect, labelled, TEST_LABEL, testConfig } from '../helpers/docker';
import { mountsUnder, NOTHING_LEFT } from '../helpers/lab';

export interface Lifecycle {
  runId: string;
  stateDir: string;
  config: string;
}

/** The tests' config (its secrets among it) in `dir`, with the omnicloud backend and `provider`. */
export function lifecycleConfig(runId: string, dir: string, provider: string, settings: Record<string, unknown> = {}): Lifecycle {
  const { file, stateDir } = testConfig(
    runId,
    {
      backend: 'omnicloud',
      // No network for the VMs: these tests need none, and the engine's default bridge is shared
      // with suites that inject faults into it.
      omnicloud: { provider, settings: { stop_timeout: 2, network_mode: 'none', ...settings } },
    },
    dir,
  );
  fs.mkdirSync(stateDir, { recursive: true });
  return { runId, stateDir, config: file };
}

/** One call through bin/cpi, at debug level like every suite's: runRaw fails it if a secret gets out. */
export async function cpi(l: Lifecycle, method: string, args: unknown[]): Promise<CpiResponse> {
  const run = await call({ method, arguments: args, api_version: 2 }, { args: ['-configPath', l.config], env: { BOSH_CPI_CONFIG: undefined } });
  expect(run.code).toBe(0);
  return run.response;
}

export async function ok<T>(l: Lifecycle, method: string, args: unknown[]): Promise<T> {
  const r = await cpi(l, method, args);
  if (r.error) throw new Error(`${method} failed: ${r.error.type}: ${r.error.message}\nlog: ${r.log}`);
  return r.result as T;
}

export async function startedAt(cid: string): Promise<string> {
  return (await inspect('container', cid))['State']['StartedAt'] as string;
}

/** create_vm → has_vm → create_disk → attach_disk → (live, data) → detach_disk → delete_disk → delete_vm. */
export async function runLifecycle(l: Lifecycle, stemcell: string, opts: { getDisks: boolean }): Promise<void> {
  const networks = { default: { type: 'dynamic', default: ['dns', 'gateway'], cloud_properties: {} } };
  const [vm, nets] = await ok<[string, unknown]>(l, 'create_vm', ['agent-omni-1', stemcell, {}, networks, [], { bosh: { group: 'g' } }]);
  expect(vm).toMatch(/^vm-[0-9a-f-]{36}$/);
  const c = await inspect('container', vm);
  // The dynamic network's real address, as the engine assigned it (bosh-dynamic: the default name).
  const assigned = c['NetworkSettings']['Networks']['bosh-dynamic'];
  expect(assigned.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  expect(nets).toEqual({ default: { ...networks.default, ip: assigned.IPAddress, mac: assigned.MacAddress } });
  expect(c['State']['Running']).toBe(true);
  expect(c['Config']['Labels'][TEST_LABEL]).toBe(l.runId);
  expect(c['HostConfig']['Privileged']).toBe(false);
  expect(await ok(l, 'has_vm', [vm])).toBe(true);

  const disk = await ok<string>(l, 'create_disk', [2048, {}, vm]);
  expect(disk).toMatch(/^disk-[0-9a-f-]{36}$/);
  expect((await inspect('volume', disk))['Labels'][TEST_LABEL]).toBe(l.runId);

  const before = await startedAt(vm);
  const hint = await ok<string>(l, 'attach_disk', [vm, disk]);
  expect(hint).toBe(`/warden-cpi-dev/${disk}`);
  // Live: the disk is there without a restart, and what the VM writes lands in the volume.
  await docker('exec', vm, 'sh', '-c', `echo persistent-data > ${hint}/file`);
  const mountpoint = (await inspect('volume', disk))['Mountpoint'] as string;
  expect(fs.readFileSync(path.join(mountpoint, 'file'), 'utf8')).toBe('persistent-data\n');
  if (opts.getDisks) expect(await ok(l, 'get_disks', [vm])).toEqual([disk]);

  await ok(l, 'detach_disk', [vm, disk]);
  expect(await docker('exec', vm, 'ls', '-A', '/warden-cpi-dev')).toBe('');
  expect(await startedAt(vm)).toBe(before);
  expect(fs.readFileSync(path.join(mountpoint, 'file'), 'utf8')).toBe('persistent-data\n');
  if (opts.getDisks) expect(await ok(l, 'get_disks', [vm])).toEqual([]);

  // Deleting a VM with its disk attached unmounts it; the disk and its data survive.
  await ok(l, 'attach_disk', [vm, disk]);
  await ok(l, 'delete_vm', [vm]);
  expect(await exists('container', vm)).toBe(false);
  expect(await ok(l, 'has_vm', [vm])).toBe(false);
  expect(fs.readFileSync(path.join(mountpoint, 'file'), 'utf8')).toBe('persistent-data\n');
  expect(mountsUnder(path.join(l.stateDir, 'disks')).filter((m) => m !== path.join(l.stateDir, 'disks'))).toEqual([]);

  await ok(l, 'delete_disk', [disk]);
  expect(await exists('volume', disk)).toBe(false);
  const again = await cpi(l, 'delete_disk', [disk]);
  expect(again.error?.type).toBe('Bosh::Clouds::DiskNotFound');
}

/** Nothing the suite created is left on the engine (its stemcell aside, removed by the caller). */
export async function expectNothingLeft(runId: string, stemcells: string[] = []): Promise<void> {
  const left = await labelled(runId);
  expect({ ...left, images: [] }).toEqual(NOTHING_LEFT);
  for (const s of stemcells) expect(await exists('image', s)).toBe(false);
}
