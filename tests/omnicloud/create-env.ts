/**
 * A `bosh create-env` through `backend: omnicloud`, call by call as the bosh CLI makes them
 * (info before each), with what the CLI and the agent depend on checked on the real engine: the
 * stemcell imported, the agent's port published on 127.0.0.1 and reachable, the settings file
 * the agent reads (and its disks after attach), the disk live in the VM, and after delete-env
 * nothing left — no container, volume, network or image, no mount on the host but the
 * provider's documented shared disks directory.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { docker, exists, freePort, inspect } from '../helpers/docker';
import { NOTHING_LEFT, stemcellFiles } from '../helpers/lab';
import { directorEnv, SECRETS } from '../helpers/secrets';
import { cli, diskMetadata, holding, type ConformanceTarget } from '../reliability/conformance-scenarios';

const SETTINGS = '/var/vcap/bosh/warden-cpi-agent-env.json';

/** Connects to 127.0.0.1:port and reads until the peer closes (bounded). */
function readPort(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`nothing from 127.0.0.1:${port} within 10 s`))), 10000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e) => (clearTimeout(timer), reject(e)));
    s.on('close', () => (clearTimeout(timer), resolve(Buffer.concat(chunks).toString('utf8'))));
  });
}

/** Waits (bounded) until a program in the VM listens on 6868 (busybox nc in the test stemcell). */
async function listenIn(vm: string, reply: string): Promise<void> {
  await docker('exec', '-d', vm, 'sh', '-c', `printf %s "$1" | nc -l -p 6868`, 'sh', reply);
  for (let i = 0; i < 100; i++) {
    if ((await docker('exec', vm, 'sh', '-c', 'netstat -ltn 2>/dev/null | grep -c ":6868 " || true')) !== '0') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nothing listens on 6868 in the VM');
}

async function settingsIn(vm: string): Promise<Record<string, any>> {
  return JSON.parse(await docker('exec', vm, 'cat', SETTINGS)) as Record<string, any>;
}

export function createEnvSequence(name: string, target: () => ConformanceTarget & { settingsOnHost?: (vm: string) => string }): void {
  it(`bosh create-env through ${name}: stemcell, VM with 127.0.0.1:<port>:6868 published, the agent's settings, a live disk, delete-env, nothing left`, async () => {
    const t = target();
    const { lab } = t;
    const sc = await stemcellFiles('runit');
    const stemcell = (await cli(lab, 'create_stemcell', [sc.imagePath, sc.cloudProperties])) as string;
    expect(await exists('image', stemcell)).toBe(true);

    const port = await freePort();
    const networks = { default: lab.manual(5, 10) };
    const env = directorEnv({ ntp: ['time1.example'] });
    const [vm, nets] = (await cli(lab, 'create_vm', ['agent-create-env', stemcell, { ports: [`127.0.0.1:${port}:6868/tcp`] }, networks, [], env])) as [string, Record<string, any>];
    expect(nets['default'].ip).toBe(lab.ip(5, 10));
    const c = await inspect('container', vm);
    expect(c.HostConfig.PortBindings['6868/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(port) }]);
    expect(c.NetworkSettings.Networks[`bosh-10.${lab.octet}.5.0-24`].IPAddress).toBe(lab.ip(5, 10));
    // What the CLI does next: reach the agent on 127.0.0.1:<port>.
    await listenIn(vm, 'agent-here');
    expect(await readPort(port)).toBe('agent-here');

    // The settings the agent reads at boot: its id, the mbus it serves, its network as preconfigured.
    const settings = await settingsIn(vm);
    expect(settings).toMatchObject({
      agent_id: 'agent-create-env',
      vm: { name: vm },
      mbus: `https://mbus:${SECRETS.mbusPassword}@0.0.0.0:6868`,
      networks: { default: { type: 'manual', ip: lab.ip(5, 10), gateway: lab.ip(5, 1), preconfigured: true } },
      disks: { system: '', persistent: {} },
      env: { bosh: { password: SECRETS.vmPassword } },
    });
    // Readable by the agent (root) only: it holds the mbus and blobstore passwords.
    expect(await docker('exec', vm, 'stat', '-c', '%a %u', SETTINGS)).toBe('600 0');
    if (t.settingsOnHost) expect(JSON.parse(fs.readFileSync(t.settingsOnHost(vm), 'utf8'))).toEqual(settings);

    const disk = (await cli(lab, 'create_disk', [1024, {}, vm])) as string;
    const hint = (await cli(lab, 'attach_disk', [vm, disk])) as string;
    expect(hint).toBe(`/warden-cpi-dev/${disk}`);
    // The agent's mount_disk reads the settings again and finds the disk there.
    expect((await settingsIn(vm))['disks']['persistent']).toEqual({ [disk]: hint });
    await diskMetadata(t, cli, disk, { deployment: 'bosh', instance_group: 'bosh', instance_index: '0', attached_at: '2026-11-22T12:01:00Z' });
    await docker('exec', vm, 'sh', '-c', `echo director-db > ${hint}/db`);
    const mountpoint = (await inspect('volume', disk))['Mountpoint'] as string;
    expect(fs.readFileSync(path.join(mountpoint, 'db'), 'utf8')).toBe('director-db\n');

    // delete-env: delete_vm with the disk attached, delete_disk without detach, delete_stemcell.
    await cli(lab, 'delete_vm', [vm]);
    expect(await exists('container', vm)).toBe(false);
    if (t.settingsOnHost) expect(fs.existsSync(t.settingsOnHost(vm))).toBe(false);
    await cli(lab, 'delete_disk', [disk]);
    expect(await exists('volume', disk)).toBe(false);
    await cli(lab, 'delete_stemcell', [stemcell]);
    expect(await exists('image', stemcell)).toBe(false);
    expect(await holding(t)).toEqual(NOTHING_LEFT);
    expect(await exists('network', `bosh-10.${lab.octet}.5.0-24`)).toBe(false);
  });
}
