/**
 * Black-box conformance: the exact request shapes and call orders of `bosh create-env`,
 * `bosh delete-env` and a Director deploy / recreate / delete (contract §9), replayed through
 * bin/cpi, with the lifecycle scenarios of contract §11. Every response is checked against the
 * Director's response schema (result, error, log all present; log a string; ok_to_retry a boolean).
 *
 * One module drives every backend: the Docker backend (conformance.test.ts) and the OmniCloud
 * backend with each shipped docker provider (tests/omnicloud/conformance-*.test.ts). Where the
 * contract leaves a backend a choice — an optional method it does not implement, where metadata
 * goes, whether deleting what is gone is a success or the NotFound error BOSH tolerates — the
 * target says which, and the scenario asserts exactly that answer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runRaw, type CpiResponse, type CpiRun } from '../helpers/cpi';
import { execIn, exists, inspect } from '../helpers/docker';
import { mountsUnder, NOTHING_LEFT, stemcellFiles, type Lab } from '../helpers/lab';
import { directorEnv } from '../helpers/secrets';

export interface ConformanceTarget {
  lab: Lab;
  /** The container behind a VM CID (it may have been renamed by set_vm_metadata). */
  container(vm: string): Promise<string>;
  /**
   * set_vm_metadata: the container renamed to <deployment>_<instance_group>_<index>_<cid>, the
   * metadata kept as a file in `dir` (named by the CID), or NotImplemented (BOSH swallows it).
   */
  vmMetadata: { kind: 'renamed' } | { kind: 'file'; dir: string } | { kind: 'not-implemented' };
  diskMetadata: { kind: 'stored' } | { kind: 'file'; dir: string } | { kind: 'not-implemented' };
  /** snapshot_disk/delete_snapshot served; otherwise NotImplemented (the Director then skips snapshots). */
  snapshots: boolean;
  /** create_stemcell's v3 tags become image labels (bosh.tag.<k>). */
  stemcellTags: boolean;
  /** Deleting a VM / disk that is already gone: success, or the contract's NotFound error (BOSH tolerates both). */
  goneVm: null | 'Bosh::Clouds::VMNotFound';
  goneDisk: null | 'Bosh::Clouds::DiskNotFound';
  /** Host mounts the backend keeps on purpose (its documented host preparation); any other is a leak. */
  preparedMounts: readonly string[];
}

const DIRECTOR_UUID = 'd0c8e1f2-6b1c-4e6f-9d2a-0123456789ab';
const STEMCELL_CONTEXT = { vm: { stemcell: { api_version: 2 } } };

/** The Director's Membrane schema for responses, plus our no-stack-trace rule. */
function expectValidResponse(r: CpiResponse, stdout: string): void {
  expect(Object.keys(r).sort()).toEqual(['error', 'log', 'result']);
  expect(typeof r.log).toBe('string');
  if (r.error) {
    expect(typeof r.error.type).toBe('string');
    expect(typeof r.error.message).toBe('string');
    expect(typeof r.error.ok_to_retry).toBe('boolean');
  }
  expect(stdout).not.toMatch(/\n\s+at /);
}

/** A valid response: its result, or (`expectError`) exactly that error, which it returns. */
function answer(run: CpiRun, method: string, expectError?: string | null): unknown {
  expect(run.code).toBe(0);
  expectValidResponse(run.response, run.stdout);
  if (expectError) {
    expect(run.response.error?.type).toBe(expectError);
    return run.response.error;
  }
  if (run.response.error) throw new Error(`${method}: ${run.response.error.type} ${run.response.error.message}`);
  return run.response.result;
}

/** The bosh CLI: info (api_version 1) before every method, no request_id, the stemcell version in context. */
export async function cli(lab: Lab, method: string, args: unknown[], opts: { expectError?: string } = {}): Promise<unknown> {
  const context = { director_uuid: DIRECTOR_UUID, ...STEMCELL_CONTEXT };
  const info = await runRaw(JSON.stringify({ method: 'info', arguments: [], context, api_version: 1 }), lab.opts());
  expectValidResponse(info.response, info.stdout);
  expect((info.response.result as { api_version: number }).api_version).toBe(2);
  return answer(await runRaw(JSON.stringify({ method, arguments: args, context, api_version: 2 }), lab.opts()), method, opts.expectError);
}

let requestSeq = 100000;
/** The Director: a request_id per call, the stemcell version only on the VM-bound methods. */
async function director(lab: Lab, method: string, args: unknown[], opts: { apiVersion?: number; stemcell?: boolean; expectError?: string | null } = {}): Promise<unknown> {
  const context: Record<string, unknown> = { director_uuid: DIRECTOR_UUID, request_id: `cpi-${requestSeq++}` };
  if (opts.stemcell) Object.assign(context, STEMCELL_CONTEXT);
  const body: Record<string, unknown> = { method, arguments: args, context };
  if (opts.apiVersion !== 0) body['api_version'] = opts.apiVersion ?? 2;
  return answer(await runRaw(JSON.stringify(body), lab.opts()), method, opts.expectError);
}

const NOT_IMPLEMENTED = 'Bosh::Clouds::NotImplemented';

/** set_vm_metadata as the caller makes it, and the evidence the target says it leaves (`renamed`: the name to expect). */
async function vmMetadata(t: ConformanceTarget, call: typeof cli, vm: string, md: Record<string, string>, renamed?: string): Promise<void> {
  const m = t.vmMetadata;
  await call(t.lab, 'set_vm_metadata', [vm, md], m.kind === 'not-implemented' ? { expectError: NOT_IMPLEMENTED } : {});
  if (m.kind === 'renamed' && renamed) expect((await inspect('container', renamed)).Id).toBe(await t.container(vm));
  if (m.kind === 'file') expect(JSON.parse(fs.readFileSync(path.join(m.dir, `${vm}.json`), 'utf8'))).toEqual(md);
}

export async function diskMetadata(t: ConformanceTarget, call: typeof cli, disk: string, md: Record<string, string>): Promise<void> {
  const m = t.diskMetadata;
  await call(t.lab, 'set_disk_metadata', [disk, md], m.kind === 'not-implemented' ? { expectError: NOT_IMPLEMENTED } : {});
  if (m.kind === 'file') expect(JSON.parse(fs.readFileSync(path.join(m.dir, `${disk}.json`), 'utf8'))).toEqual(md);
}

/** What the lab left (cleaning it up): its labelled resources and the mounts under its state directory it should not keep. */
export async function leftovers(t: ConformanceTarget): Promise<Record<string, string[]>> {
  const left = await t.lab.finish();
  const mounts = (left['mounts'] ?? []).filter((m) => !t.preparedMounts.includes(m));
  delete left['mounts'];
  return mounts.length ? { ...left, mounts } : left;
}

/** What the lab holds now, touching nothing: the same as leftovers, for a check in the middle of a file. */
export async function holding(t: ConformanceTarget): Promise<Record<string, string[]>> {
  const left: Record<string, string[]> = await t.lab.leftovers();
  const mounts = mountsUnder(t.lab.stateDir).filter((m) => m !== t.lab.stateDir && !t.preparedMounts.includes(m));
  return mounts.length ? { ...left, mounts } : left;
}

const cliEnv = directorEnv({ ntp: ['time1.example'], tags: { env: 'test' } });

/** The conformance scenarios against one target (built once its lab exists). */
export function conformanceSuite(name: string, target: () => ConformanceTarget): void {
  let t: ConformanceTarget;
  beforeAll(() => {
    t = target();
  });
  afterAll(async () => expect(await leftovers(t)).toEqual(NOTHING_LEFT));
  const dirCall = (method: string, args: unknown[], opts: Parameters<typeof director>[3] = {}) => director(t.lab, method, args, opts);
  const asDirector: typeof cli = (lab, method, args, opts = {}) => director(lab, method, args, { ...opts, stemcell: false });

  describe(`bosh create-env, --recreate, delete-env (${name})`, () => {
    it("replays the CLI's calls in order", async () => {
      const { lab } = t;
      const sc = await stemcellFiles('runit');
      const stemcell = (await cli(lab, 'create_stemcell', [sc.imagePath, sc.cloudProperties])) as string;
      // The CLI's single network gets default [dns, gateway].
      const networks = { default: { type: 'manual', ip: lab.ip(1, 6), netmask: '255.255.255.0', gateway: lab.ip(1, 1), dns: [lab.ip(1, 1)], default: ['dns', 'gateway'], cloud_properties: {} } };
      const [vm] = (await cli(lab, 'create_vm', ['agent-create-env', stemcell, { ports: [] }, networks, [], cliEnv])) as [string];
      await vmMetadata(t, cli, vm, { deployment: 'bosh', job: 'bosh', instance_group: 'bosh', index: '0', director: 'bosh-init', name: 'bosh/0', created_at: '2026-11-22T12:00:00Z' });
      const disk = (await cli(lab, 'create_disk', [1024, {}, vm])) as string;
      expect(await cli(lab, 'attach_disk', [vm, disk])).toBe(`/warden-cpi-dev/${disk}`);
      await diskMetadata(t, cli, disk, { deployment: 'bosh', instance_group: 'bosh', instance_index: '0', attached_at: '2026-11-22T12:01:00Z' });
      await execIn(await t.container(vm), `echo director-db > /warden-cpi-dev/${disk}/db`);

      // create-env --recreate: has_vm, delete_vm with the disk still attached, create_vm with the disk's CID.
      expect(await cli(lab, 'has_vm', [vm])).toBe(true);
      await cli(lab, 'delete_vm', [vm]);
      const [vm2] = (await cli(lab, 'create_vm', ['agent-create-env-2', stemcell, { ports: [] }, networks, [disk], cliEnv])) as [string];
      await vmMetadata(t, cli, vm2, { deployment: 'bosh', job: 'bosh', index: '0', director: 'bosh-init', name: 'bosh/0' });
      await cli(lab, 'attach_disk', [vm2, disk]);
      expect(await execIn(await t.container(vm2), `cat /warden-cpi-dev/${disk}/db`)).toBe('director-db');
      expect((await inspect('container', await t.container(vm2))).NetworkSettings.Networks[`bosh-10.${lab.octet}.1.0-24`].IPAddress).toBe(lab.ip(1, 6));

      // delete-env: has_vm, delete_vm (disk attached), delete_disk without detach, delete_stemcell.
      expect(await cli(lab, 'has_vm', [vm2])).toBe(true);
      await cli(lab, 'delete_vm', [vm2]);
      await cli(lab, 'delete_disk', [disk]);
      await cli(lab, 'delete_stemcell', [stemcell]);
      expect(await exists('volume', disk)).toBe(false);
      expect(await exists('image', stemcell)).toBe(false);
    });
  });

  describe(`a Director (${name})`, () => {
    it('uploads a stemcell, compiles, deploys, snapshots, recreates, checks and deletes', async () => {
      const { lab } = t;
      // First info of a client: no api_version key.
      expect(await dirCall('info', [], { apiVersion: 0 })).toEqual({ stemcell_formats: ['warden-tar', 'general-tar', 'docker-light'], api_version: 2 });
      const sc = await stemcellFiles('runit');
      // upload-stemcell with runtime-config tags: the v3 third argument.
      const stemcell = (await dirCall('create_stemcell', [sc.imagePath, sc.cloudProperties, { tags: { team: 'infra' } }], { apiVersion: 3 })) as string;
      if (t.stemcellTags) expect((await inspect('image', stemcell)).Config.Labels['bosh.tag.team']).toBe('infra');
      else expect(await exists('image', stemcell)).toBe(true);

      const net = (host: number) => ({ default: { type: 'manual', ip: lab.ip(2, host), netmask: '255.255.255.0', gateway: lab.ip(2, 1), dns: [lab.ip(2, 1)], default: ['dns', 'gateway'], cloud_properties: {} } });
      const env = (group: string) => directorEnv({ group, groups: ['dir', 'dep', group], tags: { director: 'dir', deployment: 'dep' } });

      // Compilation VM.
      const [compile] = (await dirCall('create_vm', ['agent-compile', stemcell, {}, net(10), [], env('compilation')], { stemcell: true })) as [string];
      await vmMetadata(t, asDirector, compile, { director: 'dir', deployment: 'dep', compiling: 'golang-1.22', created_at: '2026-11-22T12:00:00Z' });
      await dirCall('delete_vm', [compile], { stemcell: true });

      // An instance with a persistent disk.
      const [vm] = (await dirCall('create_vm', ['agent-web-0', stemcell, { cpus: 1, memory: 128 }, net(20), [], env('web')], { stemcell: true })) as [string];
      await vmMetadata(t, asDirector, vm, { director: 'dir', deployment: 'dep', instance_group: 'web', job: 'web', id: 'uuid-1', index: '0', name: 'web/uuid-1', created_at: '2026-11-22T12:00:00Z' }, `dep_web_0_${vm}`);
      const disk = (await dirCall('create_disk', [2048, { type: 'default' }, vm])) as string;
      await dirCall('attach_disk', [vm, disk], { stemcell: true });
      await diskMetadata(t, asDirector, disk, { director: 'dir', deployment: 'dep', instance_id: 'uuid-1', instance_index: '0', instance_group: 'web', attached_at: '2026-11-22T12:01:00Z' });
      expect(await dirCall('get_disks', [vm])).toEqual([disk]);
      await execIn(await t.container(vm), `echo v1 > /warden-cpi-dev/${disk}/release`);

      // snapshots.enabled: a snapshot with populated and one with empty metadata (or NotImplemented: the Director skips).
      const snapshots: string[] = [];
      const snapMd = { deployment: 'dep', job: 'web', index: 0, director_name: 'dir', director_uuid: DIRECTOR_UUID, agent_id: 'agent-web-0', instance_id: 'uuid-1' };
      if (t.snapshots) {
        snapshots.push((await dirCall('snapshot_disk', [disk, snapMd])) as string);
        snapshots.push((await dirCall('snapshot_disk', [disk, {}])) as string);
      } else await dirCall('snapshot_disk', [disk, snapMd], { expectError: NOT_IMPLEMENTED });

      // Recreate (stemcell or cloud-properties change): detach, delete, create with the disk, attach.
      await dirCall('detach_disk', [vm, disk], { stemcell: true });
      await dirCall('delete_vm', [vm], { stemcell: true });
      const [vm2] = (await dirCall('create_vm', ['agent-web-0b', stemcell, { cpus: 1, memory: 256 }, net(20), [disk], env('web')], { stemcell: true })) as [string];
      await vmMetadata(t, asDirector, vm2, { director: 'dir', deployment: 'dep', instance_group: 'web', job: 'web', id: 'uuid-1', index: '0', name: 'web/uuid-1' }, `dep_web_0_${vm2}`);
      await dirCall('attach_disk', [vm2, disk], { stemcell: true });
      expect(await execIn(await t.container(vm2), `cat /warden-cpi-dev/${disk}/release`)).toBe('v1');

      // cck: scans and a reboot resolution.
      expect(await dirCall('has_vm', [vm2])).toBe(true);
      expect(await dirCall('has_disk', [disk])).toBe(true);
      await dirCall('reboot_vm', [vm2]);
      expect(await dirCall('has_vm', [vm])).toBe(false);

      // Self-snapshot: current_vm_id is not implemented, so the Director skips it.
      await dirCall('current_vm_id', [], { expectError: NOT_IMPLEMENTED });

      // delete-deployment: delete_vm with the disk attached; the disk is orphaned, then cleaned up
      // with its snapshots (one already gone: still success).
      await dirCall('delete_vm', [vm2], { stemcell: true });
      if (snapshots.length) {
        await dirCall('delete_snapshot', [snapshots[1]]);
        await dirCall('delete_snapshot', [snapshots[1]]);
        await dirCall('delete_snapshot', [snapshots[0]]);
      }
      await dirCall('delete_disk', [disk]);
      await dirCall('delete_disk', [disk], { expectError: t.goneDisk });
      await dirCall('delete_vm', [vm2], { stemcell: true, expectError: t.goneVm });
      await dirCall('delete_stemcell', [stemcell]);
      expect(await exists('image', stemcell)).toBe(false);
    });

    it('gets VMCreationFailed with a log for a create_vm that cannot succeed, and nothing is left', async () => {
      const { lab } = t;
      const err = (await dirCall('create_vm', ['agent-x', 'bosh.io/stemcells:img-00000000-0000-4000-8000-000000000000', {}, { default: { type: 'manual', ip: lab.ip(3, 3), netmask: '255.255.255.0', cloud_properties: {} } }, [], {}], { stemcell: true, expectError: 'Bosh::Clouds::VMCreationFailed' })) as { ok_to_retry: boolean };
      expect(err.ok_to_retry).toBe(false);
      const left = await lab.leftovers();
      expect({ containers: left.containers, networks: left.networks }).toEqual({ containers: [], networks: [] });
    });

    it('manages networks when director.networks.enable_cpi_management is on', async () => {
      const { lab } = t;
      const [id, subnet] = (await dirCall('create_network', [{ type: 'manual', range: `10.${lab.octet}.4.0/24`, gateway: lab.ip(4, 1), netmask_bits: 24, cloud_properties: {} }])) as [string, { range: string }];
      expect(subnet.range).toBe(`10.${lab.octet}.4.0/24`);
      await dirCall('delete_network', [id]);
      await dirCall('delete_network', [id]);
    });
  });
}
