/**
 * Black-box conformance: the exact request shapes and call orders of `bosh create-env`,
 * `bosh delete-env` and a Director deploy / recreate / delete (contract §9), replayed through
 * bin/cpi, with the lifecycle scenarios of contract §11. Every response is checked against the
 * Director's response schema (result, error, log all present; log a string; ok_to_retry a boolean).
 */
import { runRaw, type CpiResponse } from '../helpers/cpi';
import { containerOf, execIn, exists, inspect } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS, stemcellFiles } from '../helpers/lab';
import { directorEnv } from '../helpers/secrets';

const lab = new Lab('conformance', SUBNETS.conformance);
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

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

/** The bosh CLI: info (api_version 1) before every method, no request_id, the stemcell version in context. */
async function cli(method: string, args: unknown[]): Promise<unknown> {
  const context = { director_uuid: DIRECTOR_UUID, ...STEMCELL_CONTEXT };
  const info = await runRaw(JSON.stringify({ method: 'info', arguments: [], context, api_version: 1 }), lab.opts());
  expectValidResponse(info.response, info.stdout);
  expect((info.response.result as { api_version: number }).api_version).toBe(2);
  const run = await runRaw(JSON.stringify({ method, arguments: args, context, api_version: 2 }), lab.opts());
  expect(run.code).toBe(0);
  expectValidResponse(run.response, run.stdout);
  if (run.response.error) throw new Error(`${method}: ${run.response.error.type} ${run.response.error.message}`);
  return run.response.result;
}

let requestSeq = 100000;
/** The Director: a request_id per call, the stemcell version only on the VM-bound methods. */
async function director(method: string, args: unknown[], opts: { apiVersion?: number; stemcell?: boolean; expectError?: string } = {}): Promise<unknown> {
  const context: Record<string, unknown> = { director_uuid: DIRECTOR_UUID, request_id: `cpi-${requestSeq++}` };
  if (opts.stemcell) Object.assign(context, STEMCELL_CONTEXT);
  const body: Record<string, unknown> = { method, arguments: args, context };
  if (opts.apiVersion !== 0) body['api_version'] = opts.apiVersion ?? 2;
  const run = await runRaw(JSON.stringify(body), lab.opts());
  expect(run.code).toBe(0);
  expectValidResponse(run.response, run.stdout);
  if (opts.expectError) {
    expect(run.response.error?.type).toBe(opts.expectError);
    return run.response.error;
  }
  if (run.response.error) throw new Error(`${method}: ${run.response.error.type} ${run.response.error.message}`);
  return run.response.result;
}

const cliEnv = directorEnv({ ntp: ['time1.example'], tags: { env: 'test' } });

describe('bosh create-env, --recreate, delete-env', () => {
  it('replays the CLI\'s calls in order', async () => {
    const sc = await stemcellFiles('runit');
    const stemcell = (await cli('create_stemcell', [sc.imagePath, sc.cloudProperties])) as string;
    // The CLI's single network gets default [dns, gateway].
    const networks = { default: { type: 'manual', ip: lab.ip(1, 6), netmask: '255.255.255.0', gateway: lab.ip(1, 1), dns: [lab.ip(1, 1)], default: ['dns', 'gateway'], cloud_properties: {} } };
    const [vm] = (await cli('create_vm', ['agent-create-env', stemcell, { ports: [] }, networks, [], cliEnv])) as [string];
    await cli('set_vm_metadata', [vm, { deployment: 'bosh', job: 'bosh', instance_group: 'bosh', index: '0', director: 'bosh-init', name: 'bosh/0', created_at: '2026-11-22T12:00:00Z' }]);
    const disk = (await cli('create_disk', [1024, {}, vm])) as string;
    expect(await cli('attach_disk', [vm, disk])).toBe(`/warden-cpi-dev/${disk}`);
    await cli('set_disk_metadata', [disk, { deployment: 'bosh', instance_group: 'bosh', instance_index: '0', attached_at: '2026-11-22T12:01:00Z' }]);
    await execIn(await containerOf(vm), `echo director-db > /warden-cpi-dev/${disk}/db`);

    // create-env --recreate: has_vm, delete_vm with the disk still attached, create_vm with the disk's CID.
    expect(await cli('has_vm', [vm])).toBe(true);
    await cli('delete_vm', [vm]);
    const [vm2] = (await cli('create_vm', ['agent-create-env-2', stemcell, { ports: [] }, networks, [disk], cliEnv])) as [string];
    await cli('set_vm_metadata', [vm2, { deployment: 'bosh', job: 'bosh', index: '0', director: 'bosh-init', name: 'bosh/0' }]);
    await cli('attach_disk', [vm2, disk]);
    expect(await execIn(await containerOf(vm2), `cat /warden-cpi-dev/${disk}/db`)).toBe('director-db');
    expect((await inspect('container', await containerOf(vm2))).NetworkSettings.Networks[`bosh-10.${lab.octet}.1.0-24`].IPAddress).toBe(lab.ip(1, 6));

    // delete-env: has_vm, delete_vm (disk attached), delete_disk without detach, delete_stemcell.
    expect(await cli('has_vm', [vm2])).toBe(true);
    await cli('delete_vm', [vm2]);
    await cli('delete_disk', [disk]);
    await cli('delete_stemcell', [stemcell]);
    expect(await exists('volume', disk)).toBe(false);
    expect(await exists('image', stemcell)).toBe(false);
  });
});

describe('a Director', () => {
  it('uploads a stemcell, compiles, deploys, snapshots, recreates, checks and deletes', async () => {
    // First info of a client: no api_version key.
    expect(await director('info', [], { apiVersion: 0 })).toEqual({ stemcell_formats: ['warden-tar', 'general-tar', 'docker-light'], api_version: 2 });
    const sc = await stemcellFiles('runit');
    // upload-stemcell with runtime-config tags: the v3 third argument.
    const stemcell = (await director('create_stemcell', [sc.imagePath, sc.cloudProperties, { tags: { team: 'infra' } }], { apiVersion: 3 })) as string;
    expect((await inspect('image', stemcell)).Config.Labels['bosh.tag.team']).toBe('infra');

    const net = (host: number) => ({ default: { type: 'manual', ip: lab.ip(2, host), netmask: '255.255.255.0', gateway: lab.ip(2, 1), dns: [lab.ip(2, 1)], default: ['dns', 'gateway'], cloud_properties: {} } });
    const env = (group: string) => directorEnv({ group, groups: ['dir', 'dep', group], tags: { director: 'dir', deployment: 'dep' } });

    // Compilation VM.
    const [compile] = (await director('create_vm', ['agent-compile', stemcell, {}, net(10), [], env('compilation')], { stemcell: true })) as [string];
    await director('set_vm_metadata', [compile, { director: 'dir', deployment: 'dep', compiling: 'golang-1.22', created_at: '2026-11-22T12:00:00Z' }]);
    await director('delete_vm', [compile], { stemcell: true });

    // An instance with a persistent disk.
    const [vm] = (await director('create_vm', ['agent-web-0', stemcell, { cpus: 1, memory: 128 }, net(20), [], env('web')], { stemcell: true })) as [string];
    await director('set_vm_metadata', [vm, { director: 'dir', deployment: 'dep', instance_group: 'web', job: 'web', id: 'uuid-1', index: '0', name: 'web/uuid-1', created_at: '2026-11-22T12:00:00Z' }]);
    const disk = (await director('create_disk', [2048, { type: 'default' }, vm])) as string;
    await director('attach_disk', [vm, disk], { stemcell: true });
    await director('set_disk_metadata', [disk, { director: 'dir', deployment: 'dep', instance_id: 'uuid-1', instance_index: '0', instance_group: 'web', attached_at: '2026-11-22T12:01:00Z' }]);
    expect(await director('get_disks', [vm])).toEqual([disk]);
    await execIn((await inspect('container', `dep_web_0_${vm}`)).Id, `echo v1 > /warden-cpi-dev/${disk}/release`);

    // snapshots.enabled: a snapshot with populated and one with empty metadata.
    const snap = (await director('snapshot_disk', [disk, { deployment: 'dep', job: 'web', index: 0, director_name: 'dir', director_uuid: DIRECTOR_UUID, agent_id: 'agent-web-0', instance_id: 'uuid-1' }])) as string;
    const snapEmpty = (await director('snapshot_disk', [disk, {}])) as string;

    // Recreate (stemcell or cloud-properties change): detach, delete, create with the disk, attach.
    await director('detach_disk', [vm, disk], { stemcell: true });
    await director('delete_vm', [vm], { stemcell: true });
    const [vm2] = (await director('create_vm', ['agent-web-0b', stemcell, { cpus: 1, memory: 256 }, net(20), [disk], env('web')], { stemcell: true })) as [string];
    await director('set_vm_metadata', [vm2, { director: 'dir', deployment: 'dep', instance_group: 'web', job: 'web', id: 'uuid-1', index: '0', name: 'web/uuid-1' }]);
    await director('attach_disk', [vm2, disk], { stemcell: true });
    expect(await execIn((await inspect('container', `dep_web_0_${vm2}`)).Id, `cat /warden-cpi-dev/${disk}/release`)).toBe('v1');

    // cck: scans and a reboot resolution.
    expect(await director('has_vm', [vm2])).toBe(true);
    expect(await director('has_disk', [disk])).toBe(true);
    await director('reboot_vm', [vm2]);
    expect(await director('has_vm', [vm])).toBe(false);

    // Self-snapshot: current_vm_id is not implemented, so the Director skips it.
    await director('current_vm_id', [], { expectError: 'Bosh::Clouds::NotImplemented' });

    // delete-deployment: delete_vm with the disk attached; the disk is orphaned, then cleaned up
    // with its snapshots (one already gone: still success).
    await director('delete_vm', [vm2], { stemcell: true });
    await director('delete_snapshot', [snapEmpty]);
    await director('delete_snapshot', [snapEmpty]);
    await director('delete_snapshot', [snap]);
    await director('delete_disk', [disk]);
    await director('delete_disk', [disk]);
    await director('delete_vm', [vm2], { stemcell: true });
    await director('delete_stemcell', [stemcell]);
  });

  it('gets VMCreationFailed with a log for a create_vm that cannot succeed, and nothing is left', async () => {
    const err = (await director('create_vm', ['agent-x', 'bosh.io/stemcells:img-00000000-0000-4000-8000-000000000000', {}, { default: { type: 'manual', ip: lab.ip(3, 3), netmask: '255.255.255.0', cloud_properties: {} } }, [], {}], { stemcell: true, expectError: 'Bosh::Clouds::VMCreationFailed' })) as { ok_to_retry: boolean };
    expect(err.ok_to_retry).toBe(false);
  });

  it('manages networks when director.networks.enable_cpi_management is on', async () => {
    const [id, subnet] = (await director('create_network', [{ type: 'manual', range: `10.${lab.octet}.4.0/24`, gateway: lab.ip(4, 1), netmask_bits: 24, cloud_properties: {} }])) as [string, { range: string }];
    expect(subnet.range).toBe(`10.${lab.octet}.4.0/24`);
    await director('delete_network', [id]);
    await director('delete_network', [id]);
  });
});
