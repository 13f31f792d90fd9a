/**
 * Agent settings delivery: the bind-mounted host file (default) and the engine's archive API,
 * used when configured or when the engine cannot see the CPI's files (a remote engine).
 *
 * A remote engine is simulated faithfully on one machine: bin/cpi runs in its own mount
 * namespace with a private tmpfs over its state directory, so the files it writes exist for it
 * but not for the engine, exactly as with an engine on another host.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CPI, type CpiResponse } from '../helpers/cpi';
import { containerOf as containerIdOf, execIn, inspect } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

const lab = new Lab('delivery', SUBNETS.delivery);
const archive = new Lab('delivery-archive', SUBNETS.delivery, { settings_delivery: 'archive' });
let stemcell: string;
beforeAll(async () => {
  stemcell = await lab.stemcell('runit');
});
afterAll(async () => {
  expect(await lab.finish()).toEqual(NOTHING_LEFT);
  expect(await archive.finish()).toEqual(NOTHING_LEFT);
});

function settingsMounts(c: Record<string, any>): string[] {
  return (c.Mounts as Array<{ Destination: string; Type: string }>).filter((m) => m.Destination.startsWith('/var/vcap/bosh/')).map((m) => m.Destination);
}

/** bin/cpi in a private mount namespace whose state directory the engine cannot see. */
function remoteCall(stateParent: string, configFile: string, request: unknown): Promise<CpiResponse> {
  const script = `mount -t tmpfs tmpfs "$1" && shift && exec "$@"`;
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', stateParent, CPI, '-configPath', configFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as CpiResponse);
      } catch {
        reject(new Error(`no JSON from bin/cpi: ${out} ${err}`));
      }
    });
    child.stdin.end(JSON.stringify({ ...(request as object), context: {}, api_version: 2 }));
  });
}

describe('settings delivery', () => {
  it('bind-mounts the host file by default and rewrites it in place', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(1, 10) });
    const c = await inspect('container', vm.cid);
    expect(c.Config.Labels['bosh.cpi.settings-delivery']).toBe('bind');
    expect(settingsMounts(c).sort()).toEqual(['/var/vcap/bosh/user_data.json', '/var/vcap/bosh/warden-cpi-agent-env.json']);
    const hostFile = path.join(lab.vmDir(vm.cid), 'settings.json');
    expect(JSON.parse(await execIn(vm.cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json'))).toEqual(JSON.parse(fs.readFileSync(hostFile, 'utf8')));
    expect(fs.statSync(hostFile).mode & 0o777).toBe(0o600);
    await lab.ok('delete_vm', [vm.cid]);
  });

  it('writes the file through the archive API when configured to', async () => {
    const sc = await archive.stemcell('runit');
    const vm = await archive.createVm(sc, { default: lab.manual(2, 20), dyn: { type: 'dynamic', cloud_properties: { name: `dyn-${archive.runId}` } } });
    const c = await inspect('container', vm.cid);
    expect(c.Config.Labels['bosh.cpi.settings-delivery']).toBe('archive');
    expect(settingsMounts(c)).toEqual([]);
    const inside = JSON.parse(await execIn(vm.cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json'));
    expect(inside.vm.name).toBe(vm.cid);
    expect(inside.networks.dyn.ip).toBe(vm.networks['dyn'].ip);
    expect(await execIn(vm.cid, 'cat /var/vcap/bosh/user_data.json')).toBe(JSON.stringify(inside));
    await archive.ok('reboot_vm', [vm.cid]);
    expect(JSON.parse(await execIn(vm.cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).agent_id).toBe(inside.agent_id);
    await archive.ok('delete_vm', [vm.cid]);
  });

  it('falls back to the archive API by itself when the engine cannot see the state directory', async () => {
    const stateParent = fs.mkdtempSync(path.join(path.dirname(lab.stateDir), 'remote-'));
    const cfg = JSON.parse(fs.readFileSync(lab.configFile, 'utf8'));
    const configFile = path.join(path.dirname(lab.configFile), 'remote.json');
    fs.writeFileSync(configFile, JSON.stringify({ ...cfg, state_dir: path.join(stateParent, 'state') }));

    const dynName = `dyn-remote-${lab.runId}`;
    const created = await remoteCall(stateParent, configFile, {
      method: 'create_vm',
      arguments: ['agent-remote', stemcell, {}, { default: lab.manual(3, 30), dyn: { type: 'dynamic', cloud_properties: { name: dynName } } }, [], { bosh: { password: 'p' } }],
    });
    expect(created.error).toBeNull();
    const [cid] = created.result as [string];
    const c = await inspect('container', cid);
    expect(c.Config.Labels['bosh.cpi.settings-delivery']).toBe('archive');
    expect(settingsMounts(c)).toEqual([]);
    expect(created.log).toBe('');
    const inside = JSON.parse(await execIn(cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json'));
    expect(inside).toMatchObject({ agent_id: 'agent-remote', vm: { name: cid }, env: { bosh: { password: 'p' } } });
    // The CPI's own copy is gone with its namespace; reboot_vm reads the settings back from
    // the container to refresh the dynamic address.
    expect(fs.readdirSync(stateParent)).toEqual([]);
    const rebooted = await remoteCall(stateParent, configFile, { method: 'reboot_vm', arguments: [cid] });
    expect(rebooted.error).toBeNull();
    const after = JSON.parse(await execIn(cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json'));
    expect(after.networks.dyn.ip).toBe((await inspect('container', cid)).NetworkSettings.Networks[dynName].IPAddress);
    const deleted = await remoteCall(stateParent, configFile, { method: 'delete_vm', arguments: [cid] });
    expect(deleted.error).toBeNull();
  });

  it('keeps working when the state directory loses the settings file of a running VM (a tmp cleaner, an operator)', async () => {
    const vm = await lab.createVm(stemcell, { default: lab.manual(4, 40) });
    const disk = await lab.ok<string>('create_disk', [16, {}, vm.cid]);
    const hostFile = path.join(lab.vmDir(vm.cid), 'settings.json');
    const before = JSON.parse(fs.readFileSync(hostFile, 'utf8'));
    fs.rmSync(hostFile);
    fs.rmSync(path.join(lab.vmDir(vm.cid), 'metadata.json'), { force: true });
    expect(await lab.ok('has_vm', [vm.cid])).toBe(true);
    // attach_disk restores the file from the running container's view and updates what the agent reads.
    await lab.ok('attach_disk', [vm.cid, disk]);
    const inside = JSON.parse(await execIn(vm.cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json'));
    expect(inside.disks.persistent).toEqual({ [disk]: `/warden-cpi-dev/${disk}` });
    expect(inside.bosh_cpi.generation).toBe(before.bosh_cpi.generation + 1);
    expect(JSON.parse(fs.readFileSync(hostFile, 'utf8'))).toEqual(inside);
    // The restored file is what a restart binds: the VM comes back with its disk in its settings.
    await lab.ok('reboot_vm', [vm.cid]);
    expect(JSON.parse(await execIn(vm.cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent).toEqual({ [disk]: `/warden-cpi-dev/${disk}` });
    expect(await lab.ok('get_disks', [vm.cid])).toEqual([disk]);
    await lab.ok('detach_disk', [vm.cid, disk]);
    expect(JSON.parse(await execIn(vm.cid, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent).toEqual({});
    await lab.ok('delete_vm', [vm.cid]);
    await lab.ok('delete_disk', [disk]);
  });

  it('reads archive-delivered settings from the container, so a stale local copy never wins', async () => {
    const sc = await archive.stemcell('runit');
    const vm = await archive.createVm(sc, { default: lab.manual(5, 50) });
    const disks = [await archive.ok<string>('create_disk', [16, { backing: 'directory' }, vm.cid]), await archive.ok<string>('create_disk', [16, { backing: 'directory' }, vm.cid])];
    const cache = path.join(archive.vmDir(vm.cid), 'settings.json');
    const stale = fs.readFileSync(cache, 'utf8');
    await archive.ok('attach_disk', [vm.cid, disks[0]]);
    // Another CPI host's view: its copy is from before the first attach. The second attach
    // must keep the first disk (the stale copy once dropped it).
    fs.writeFileSync(cache, stale);
    await archive.ok('attach_disk', [vm.cid, disks[1]]);
    const persistent = async () => JSON.parse(await execIn(await containerIdOf(vm.cid), 'cat /var/vcap/bosh/warden-cpi-agent-env.json')).disks.persistent;
    expect(await persistent()).toEqual(Object.fromEntries(disks.map((d) => [d, `/warden-cpi-dev/${d}`])));
    // A wiped state dir: the container's copy is all there is, and enough.
    fs.rmSync(archive.vmDir(vm.cid), { recursive: true, force: true });
    await archive.ok('detach_disk', [vm.cid, disks[0]]);
    expect(await persistent()).toEqual({ [disks[1] as string]: `/warden-cpi-dev/${disks[1]}` });
    await archive.ok('delete_vm', [vm.cid]);
    for (const d of disks) await archive.ok('delete_disk', [d]);
  });
});
