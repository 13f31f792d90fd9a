/**
 * One CPI, two Docker hosts (issue 13): two engines in network namespaces of this test, over
 * mutual TLS, joined as a Swarm manager and worker (tests/helpers/engine-pair.ts). The CPI's
 * config file names no reachable engine: every call reaches an engine only through its
 * cpi-config context, as the Director's calls do. The engines cannot see the CPI's files, as
 * real remote hosts cannot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TEST_LABEL } from '../helpers/docker';
import { EnginePair, pairTraces, type HostEngine } from '../helpers/engine-pair';
import { Lab, SUBNETS, stemcellFiles } from '../helpers/lab';
import { ROOT, type CpiRun } from '../helpers/cpi';
import { interpolate, readYaml } from '../release/helpers';

const NO_ENGINE = 'unix:///run/bosh-cpi-test-no-engine-here.sock';
const lab = new Lab('hosts', SUBNETS.hosts, { docker: { host: NO_ENGINE } });
let pair: EnginePair;
const stemcells = new Map<HostEngine, string>();
/** Overlays this file made by hand on the manager, removed at the end. */
const overlays: string[] = [];
const overlayName = (n: string) => `${n}-${lab.runId}`;

beforeAll(async () => {
  pair = await EnginePair.start({ octet: lab.octet, hide: path.dirname(lab.configFile) });
}, 120_000);

afterAll(async () => {
  await pair?.destroy();
}, 120_000);

/**
 * What the Director sends with each call for `e`'s AZ: the properties of its entry in the
 * cpi-config example (manifests/cpi-config.yml, z1 = the manager, z2 = the worker), or the Go
 * CPI's top-level form.
 */
function context(e: HostEngine, form: 'nested' | 'top-level' = 'nested'): Record<string, unknown> {
  const director = { director_uuid: 'hosts-test', request_id: `cpi-${Math.floor(Math.random() * 1e6)}` };
  if (form === 'top-level') return { ...director, ...pair.context(e, 'top-level') };
  const vars = { docker_z1_host: pair.manager.tcpHost, docker_z2_host: pair.worker.tcpHost, docker_z3_host: 'tcp://127.0.0.1:9', docker_z1_tls: pair.tls(), docker_z2_tls: pair.tls(), docker_z3_tls: pair.tls() };
  const cpis = interpolate(readYaml<{ cpis: Array<{ name: string; properties: Record<string, unknown> }> }>(path.join(ROOT, 'manifests', 'cpi-config.yml')), vars).cpis;
  const entry = cpis.find((c) => c.name === (e === pair.manager ? 'docker-z1' : 'docker-z2'));
  return { ...director, ...entry?.properties };
}

/** A call as the Director makes it to the CPI of `e`'s AZ; the TLS key must never be printed. */
async function on(e: HostEngine, method: string, args: unknown[], form: 'nested' | 'top-level' = 'nested'): Promise<CpiRun> {
  const run = await lab.call(method, args, { context: context(e, form) });
  const keyLine = pair.client.key.split('\n')[1] as string;
  expect(run.stdout + run.stderr).not.toContain(keyLine);
  return run;
}

async function okOn<T = unknown>(e: HostEngine, method: string, args: unknown[], form: 'nested' | 'top-level' = 'nested'): Promise<T> {
  const run = await on(e, method, args, form);
  if (run.response.error) throw new Error(`${method} on ${e.label} failed: ${run.response.error.message}\n${run.stderr.slice(-3000)}`);
  return run.response.result as T;
}

async function createVm(e: HostEngine, networks: Record<string, unknown>, form: 'nested' | 'top-level' = 'nested'): Promise<{ cid: string; networks: Record<string, { ip?: string }> }> {
  const [cid, nets] = await okOn<[string, Record<string, { ip?: string }>]>(e, 'create_vm', [`agent-${e.label}`, stemcells.get(e), {}, networks, [], {}], form);
  return { cid, networks: nets };
}

function containerOn(e: HostEngine, cid: string): string {
  return e.docker('ps', '-aq', '--filter', `label=bosh.cpi.vm-cid=${cid}`);
}

/** Pings `ip` from inside the VM `cid` on `e`: the packets cross the overlay between the hosts. */
function ping(e: HostEngine, cid: string, ip: string): string {
  return e.docker('exec', containerOn(e, cid), 'ping', '-c', '3', '-A', '-W', '2', ip);
}

const overlay = (host: number, name: string, extra: Record<string, unknown> = {}) => ({ ov: lab.manual(1, host, { cloud_properties: { name, driver: 'overlay', ...extra } }) });

function leftovers(e: HostEngine) {
  return e.labelled(TEST_LABEL, lab.runId);
}
const NOTHING = { containers: [], volumes: [], networks: [], images: [] };

/** VM directories and create markers left in the CPI's state, for any engine. */
function localRecords(): string[] {
  const engines = path.join(lab.stateDir, 'engines');
  if (!fs.existsSync(engines)) return [];
  return fs.readdirSync(engines).flatMap((id) =>
    ['vms', 'creating'].flatMap((kind) => {
      const dir = path.join(engines, id, kind);
      return fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => `${id}/${kind}/${f}`) : [];
    }),
  );
}

describe('the test hosts', () => {
  it('are two engines with their own IDs, a Swarm manager and a worker, reached over mutual TLS', () => {
    const ids = pair.engines.map((e) => e.id());
    expect(new Set([...ids, require('node:child_process').execFileSync('docker', ['info', '--format', '{{.ID}}'], { encoding: 'utf8' }).trim()]).size).toBe(3);
    expect(pair.manager.docker('info', '--format', '{{.Swarm.ControlAvailable}} {{.Swarm.LocalNodeState}}')).toBe('true active');
    expect(pair.worker.docker('info', '--format', '{{.Swarm.ControlAvailable}} {{.Swarm.LocalNodeState}}')).toBe('false active');
  });
});

describe('context routing: each call goes to the engine its cpi-config context names', () => {
  it('imports a stemcell on each engine, each only there', async () => {
    const sc = await stemcellFiles('runit');
    for (const e of pair.engines) stemcells.set(e, await okOn<string>(e, 'create_stemcell', [sc.imagePath, sc.cloudProperties]));
    for (const e of pair.engines) expect(leftovers(e).images).toHaveLength(1);
    expect(pair.manager.docker('image', 'inspect', '--format', '{{.Id}}', stemcells.get(pair.manager) as string)).toMatch(/^sha256:/);
  });

  it('creates, finds, renames and deletes each VM on its own engine (the cpi-config example\'s form and the Go CPI\'s)', async () => {
    const subnetOf = (e: HostEngine) => (e === pair.manager ? 2 : 3);
    const vms = new Map<HostEngine, string>();
    for (const e of pair.engines) {
      const form = e === pair.manager ? 'nested' : 'top-level';
      vms.set(e, (await createVm(e, { default: lab.manual(subnetOf(e), 10) }, form)).cid);
    }
    // Each VM's local record sits under its own engine's key (the engines have distinct IDs).
    const records = localRecords().filter((r) => r.includes('/vms/'));
    expect(records).toHaveLength(2);
    expect(new Set(records.map((r) => r.split('/')[0])).size).toBe(2);
    for (const e of pair.engines) {
      const other = e === pair.manager ? pair.worker : pair.manager;
      const cid = vms.get(e) as string;
      expect(containerOn(e, cid)).not.toBe('');
      expect(containerOn(other, cid)).toBe('');
      expect(await okOn(e, 'has_vm', [cid])).toBe(true);
      await okOn(e, 'set_vm_metadata', [cid, { deployment: 'hosts', job: `web-${e.label}`, index: '0' }]);
      expect(e.docker('inspect', '--format', '{{.Name}}', containerOn(e, cid))).toBe(`/hosts_web-${e.label}_0_${cid}`);
      // Settings went through the engine's archive API: it cannot see the CPI's state directory.
      expect(e.docker('inspect', '--format', '{{index .Config.Labels "bosh.cpi.settings-delivery"}}', containerOn(e, cid))).toBe('archive');
    }
    for (const e of pair.engines) {
      await okOn(e, 'delete_vm', [vms.get(e)]);
      expect(containerOn(e, vms.get(e) as string)).toBe('');
    }
    // The implicit bridges went with their VMs, on each engine.
    for (const e of pair.engines) expect(leftovers(e).networks).toEqual([]);
  });

  it('without a context, a call goes to the config file\'s engine (none here) and says so', async () => {
    const r = await lab.call('has_vm', ['c-00000000-0000-4000-8000-000000000000']);
    expect(r.response.error?.type).toBe('Bosh::Clouds::CloudError');
    expect(r.response.error?.message).toContain(NO_ENGINE);
  });
});

describe('an attachable Swarm overlay across the hosts', () => {
  let ov: string;
  const vms: Record<string, string> = {};

  beforeAll(() => {
    ov = overlayName('ov');
    pair.overlay(ov, lab.ip(1, 0) + '/24', lab.ip(1, 1), { [TEST_LABEL]: lab.runId });
    overlays.push(ov);
  });

  it('a VM on each host with a static IP; they ping each other; the worker made no network of its own', async () => {
    // The worker does not list the overlay before a local container uses it.
    expect(pair.worker.docker('network', 'ls', '-q', '--filter', `name=${ov}`)).toBe('');
    const m = await createVm(pair.manager, overlay(10, ov));
    const w = await createVm(pair.worker, overlay(20, ov));
    vms['m'] = m.cid;
    vms['w'] = w.cid;
    expect(m.networks['ov']?.ip).toBe(lab.ip(1, 10));
    expect(w.networks['ov']?.ip).toBe(lab.ip(1, 20));
    expect(ping(pair.manager, m.cid, lab.ip(1, 20))).toContain(' 0% packet loss');
    expect(ping(pair.worker, w.cid, lab.ip(1, 10))).toContain(' 0% packet loss');
    expect(pair.worker.docker('network', 'ls', '--filter', `name=${ov}`, '--format', '{{.Name}} {{.Scope}} {{.Driver}}')).toBe(`${ov} swarm overlay`);
  });

  it('after reboot_vm of both, the same addresses still reach each other', async () => {
    for (const e of pair.engines) await okOn(e, 'reboot_vm', [vms[e.label]]);
    for (const e of pair.engines) {
      const id = containerOn(e, vms[e.label] as string);
      expect(e.docker('inspect', '--format', `{{(index .NetworkSettings.Networks "${ov}").IPAddress}}`, id)).toBe(lab.ip(1, e === pair.manager ? 10 : 20));
    }
    expect(ping(pair.manager, vms['m'] as string, lab.ip(1, 20))).toContain(' 0% packet loss');
    expect(ping(pair.worker, vms['w'] as string, lab.ip(1, 10))).toContain(' 0% packet loss');
  });

  it('a dynamic network on the overlay from the worker: the address the Swarm gave is reported and reachable', async () => {
    const d = await createVm(pair.worker, { dyn: { type: 'dynamic', cloud_properties: { name: ov, driver: 'overlay' } } });
    const addr = d.networks['dyn']?.ip as string;
    expect(addr).toMatch(new RegExp(`^10\\.${lab.octet}\\.1\\.\\d+$`));
    expect(ping(pair.manager, vms['m'] as string, addr)).toContain(' 0% packet loss');
    await okOn(pair.worker, 'delete_vm', [d.cid]);
  });

  it('a static IP a VM on the other host holds is refused at once, naming the holder and its host', async () => {
    for (const [e, taken, holderHost] of [
      [pair.worker, 10, pair.manager.ip],
      [pair.manager, 20, pair.worker.ip],
    ] as const) {
      const before = leftovers(e).containers.length;
      const t0 = Date.now();
      const r = await on(e, 'create_vm', ['agent-dup', stemcells.get(e), {}, overlay(taken, ov), [], {}]);
      const ms = Date.now() - t0;
      expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
      expect(r.response.error?.message).toContain(`ip ${lab.ip(1, taken)} of network 'ov' is already used on Swarm overlay ${ov} by container`);
      expect(r.response.error?.message).toContain(`of the Swarm node at ${holderHost}`);
      // The engine itself would have waited 20 s for the manager.
      expect(ms).toBeLessThan(10_000);
      expect(leftovers(e).containers.length).toBe(before);
    }
  });

  it('where the engine cannot tell (no local container on the overlay), the 20 s failure names the likely cause', async () => {
    const other = overlayName('ov2');
    pair.overlay(other, lab.ip(4, 0) + '/24', lab.ip(4, 1), { [TEST_LABEL]: lab.runId });
    overlays.push(other);
    const net = (host: number) => ({ ov2: lab.manual(4, host, { cloud_properties: { name: other, driver: 'overlay' } }) });
    const w = await createVm(pair.worker, net(20));
    const r = await on(pair.manager, 'create_vm', ['agent-dup', stemcells.get(pair.manager), {}, net(20), [], {}]);
    expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(r.response.error?.message).toContain(`the static IP ${lab.ip(4, 20)} (network 'ov2', Docker network ${other}) is held by a container on another Swarm node`);
    expect(leftovers(pair.manager).containers).toHaveLength(1); // only the VM of the first test
    await okOn(pair.worker, 'delete_vm', [w.cid]);
  }, 60_000);

  it('delete_vm on each host leaves the overlay to its owner', async () => {
    for (const e of pair.engines) await okOn(e, 'delete_vm', [vms[e.label]]);
    expect(pair.manager.docker('network', 'inspect', '--format', '{{.Scope}}', ov)).toBe('swarm');
  });
});

describe('routed per-host bridges, the alternative without an overlay', () => {
  it('one subnet per host, a host route each way: VMs on the two hosts reach each other', async () => {
    // What the operator does once per pair of hosts (README, "Many hosts").
    pair.route(pair.manager, lab.ip(12, 0) + '/24', pair.worker);
    pair.route(pair.worker, lab.ip(11, 0) + '/24', pair.manager);
    const m = await createVm(pair.manager, { routed: lab.manual(11, 10) });
    const w = await createVm(pair.worker, { routed: lab.manual(12, 10) });
    expect(pair.manager.docker('network', 'inspect', '--format', '{{.Driver}} {{.Scope}}', `bosh-${lab.ip(11, 0)}-24`)).toBe('bridge local');
    expect(ping(pair.manager, m.cid, lab.ip(12, 10))).toContain(' 0% packet loss');
    expect(ping(pair.worker, w.cid, lab.ip(11, 10))).toContain(' 0% packet loss');
    for (const [e, vm] of [[pair.manager, m], [pair.worker, w]] as const) await okOn(e, 'delete_vm', [vm.cid]);
    // Each bridge went with its host's last VM.
    expect(pair.manager.docker('network', 'ls', '-q', '--filter', `name=bosh-${lab.ip(11, 0)}-24`)).toBe('');
    expect(pair.worker.docker('network', 'ls', '-q', '--filter', `name=bosh-${lab.ip(12, 0)}-24`)).toBe('');
  });
});

describe('named networks that are not what the manifest asked for', () => {
  it('a local bridge under an overlay\'s name on the worker (a split network) is refused, naming both drivers', async () => {
    const name = overlayName('split');
    pair.overlay(name, lab.ip(5, 0) + '/24', lab.ip(5, 1), { [TEST_LABEL]: lab.runId });
    overlays.push(name);
    pair.worker.docker('network', 'create', '--driver', 'bridge', '--subnet', lab.ip(5, 0) + '/24', '--label', `${TEST_LABEL}=${lab.runId}`, name);
    try {
      const r = await on(pair.worker, 'create_vm', ['agent-split', stemcells.get(pair.worker), {}, { s: lab.manual(5, 10, { cloud_properties: { name, driver: 'overlay' } }) }, [], {}]);
      expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
      expect(r.response.error?.message).toContain(`Docker network ${name} on the Docker engine at ${pair.worker.ip}:2376 has driver bridge, not the requested overlay`);
      expect(leftovers(pair.worker).containers).toEqual([]);
    } finally {
      pair.worker.docker('network', 'rm', name);
    }
  });

  it('a network joined through the Swarm is checked once attached: an overlay where the manifest asked for a bridge', async () => {
    const name = overlayName('notbridge');
    pair.overlay(name, lab.ip(10, 0) + '/24', lab.ip(10, 1), { [TEST_LABEL]: lab.runId });
    overlays.push(name);
    const r = await on(pair.worker, 'create_vm', ['agent-nb', stemcells.get(pair.worker), {}, { b: lab.manual(10, 10, { cloud_properties: { name, driver: 'bridge' } }) }, [], {}]);
    expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(r.response.error?.message).toBe(`network 'b': Docker network ${name} on the Docker engine at ${pair.worker.ip}:2376 has driver overlay, not the requested bridge`);
    expect(leftovers(pair.worker).containers).toEqual([]);
    expect(leftovers(pair.worker).volumes).toEqual([]);
  });

  it('a name neither the worker nor its Swarm has is an error, and the worker gets no network of that name', async () => {
    const name = overlayName('nosuch');
    for (const cp of [{ name, driver: 'overlay' }, { name }]) {
      const r = await on(pair.worker, 'create_vm', ['agent-missing', stemcells.get(pair.worker), {}, { n: lab.manual(6, 10, { cloud_properties: cp }) }, [], {}]);
      expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
      expect(r.response.error?.message).toContain(`network 'n': Docker network ${name} is neither on this engine nor in its Swarm`);
      expect(pair.worker.docker('network', 'ls', '-q', '--filter', `name=${name}`)).toBe('');
      expect(leftovers(pair.worker).containers).toEqual([]);
    }
  });

  it('an overlay that does not exist is not made by create_vm, on the manager either', async () => {
    const name = overlayName('absent');
    const r = await on(pair.manager, 'create_vm', ['agent-absent', stemcells.get(pair.manager), {}, { a: lab.manual(8, 10, { cloud_properties: { name, driver: 'overlay' } }) }, [], {}]);
    expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(r.response.error?.message).toBe(
      `network 'a': Swarm overlay ${name} is not on the Docker engine at ${pair.manager.ip}:2376. The CPI does not create overlays for VMs: create it once on a Swarm manager (docker network create --driver overlay --attachable --subnet ${lab.ip(8, 0)}/24 --gateway ${lab.ip(8, 1)} ${name})`,
    );
    expect(pair.manager.docker('network', 'ls', '-q', '--filter', `name=${name}`)).toBe('');
    expect(leftovers(pair.manager).containers).toEqual([]);
  });

  it('create_network makes an attachable overlay on the manager, which delete_network removes', async () => {
    const name = overlayName('managed-m');
    const range = lab.ip(13, 0) + '/24';
    const r = await okOn<[string, Record<string, unknown>]>(pair.manager, 'create_network', [{ type: 'manual', range, gateway: lab.ip(13, 1), cloud_properties: { name, driver: 'overlay' } }]);
    expect(r[0]).toBe(name);
    expect(pair.manager.docker('network', 'inspect', '--format', '{{.Driver}} {{.Scope}} {{.Attachable}}', name)).toBe('overlay swarm true');
    // Asked again with another driver, it is refused rather than passed off as that.
    const again = await on(pair.manager, 'create_network', [{ type: 'manual', range, gateway: lab.ip(13, 1), cloud_properties: { name, driver: 'bridge' } }]);
    expect(again.response.error?.message).toBe(`create_network: Docker network ${name} already exists with driver overlay, not bridge`);
    await okOn(pair.manager, 'delete_network', [name]);
    expect(pair.manager.docker('network', 'ls', '-q', '--filter', `name=${name}`)).toBe('');
  });

  it('create_network of an overlay on the worker says only a manager can make one', async () => {
    const name = overlayName('managed');
    const r = await on(pair.worker, 'create_network', [{ type: 'manual', range: lab.ip(9, 0) + '/24', gateway: lab.ip(9, 1), cloud_properties: { name, driver: 'overlay' } }]);
    expect(r.response.error?.type).toBe('Bosh::Clouds::CloudError');
    expect(r.response.error?.message).toContain(`Docker network ${name} (driver overlay) cannot be created by the Docker engine at ${pair.worker.ip}:2376: it is not a Swarm manager`);
    expect(pair.worker.docker('network', 'ls', '-q', '--filter', `name=${name}`)).toBe('');
  });

  it('an overlay that is not attachable is refused on the manager and on the worker', async () => {
    const name = overlayName('closed');
    pair.manager.docker('network', 'create', '--driver', 'overlay', '--subnet', lab.ip(7, 0) + '/24', '--label', `${TEST_LABEL}=${lab.runId}`, name);
    overlays.push(name);
    for (const e of pair.engines) {
      const r = await on(e, 'create_vm', ['agent-closed', stemcells.get(e), {}, { c: lab.manual(7, e === pair.manager ? 10 : 20, { cloud_properties: { name, driver: 'overlay' } }) }, [], {}]);
      expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
      expect(r.response.error?.message).toBe(`network 'c': Docker network ${name} is a Swarm overlay that is not attachable, so only service tasks may join it: create it with --attachable`);
      expect(leftovers(e).containers).toEqual([]);
    }
  });
});

const engineKey = (e: HostEngine) => e.id().replace(/[^A-Za-z0-9_.-]/g, '_');
const recordsOf = (e: HostEngine, kind: 'vms' | 'creating') => localRecords().filter((r) => r.startsWith(`${engineKey(e)}/${kind}/`));

describe('per-engine sweeps after a kill', () => {
  it('a create_vm killed on the manager is left alone by calls on the worker, and swept by the next call on the manager', async () => {
    const [m, w] = [pair.manager, pair.worker];
    const killed = await lab.call('create_vm', ['agent-killed', stemcells.get(m), {}, { default: { type: 'dynamic', cloud_properties: {} } }, [], {}], {
      context: context(m),
      env: { BOSH_CPI_FAILPOINT: 'create_vm.after-container' },
    });
    expect({ signal: killed.signal, stdout: killed.stdout }).toEqual({ signal: 'SIGKILL', stdout: '' });
    expect(leftovers(m).containers).toHaveLength(1);
    expect(recordsOf(m, 'creating')).toHaveLength(1);
    const onWorker = await createVm(w, { default: { type: 'dynamic', cloud_properties: {} } });
    await okOn(w, 'delete_vm', [onWorker.cid]);
    expect(leftovers(m).containers).toHaveLength(1);
    expect(leftovers(m).volumes).toHaveLength(1);
    expect(recordsOf(m, 'creating')).toHaveLength(1);
    const onManager = await createVm(m, { default: { type: 'dynamic', cloud_properties: {} } });
    expect(leftovers(m).containers).toEqual([containerOn(m, onManager.cid)].filter(Boolean).map((id) => id.slice(0, 12)));
    expect(recordsOf(m, 'creating')).toEqual([]);
    await okOn(m, 'delete_vm', [onManager.cid]);
    expect({ containers: leftovers(m).containers, volumes: leftovers(m).volumes }).toEqual({ containers: [], volumes: [] });
  });
});

describe('wrong-context calls', () => {
  it('has_vm, delete_vm, has_disk and delete_disk with the other AZ\'s context answer as that engine would, touching nothing', async () => {
    const [m, w] = [pair.manager, pair.worker];
    const vm = await createVm(m, { default: { type: 'dynamic', cloud_properties: {} } });
    await okOn(m, 'set_vm_metadata', [vm.cid, { deployment: 'hosts', job: 'z1', index: '0' }]);
    const disk = await okOn<string>(m, 'create_disk', [16, { backing: 'directory' }, vm.cid]);
    const before = { records: recordsOf(m, 'vms'), metadata: fs.readFileSync(path.join(lab.stateDir, 'engines', engineKey(m), 'vms', vm.cid, 'metadata.json'), 'utf8') };
    expect(await okOn(w, 'has_vm', [vm.cid])).toBe(false);
    expect(await okOn(w, 'delete_vm', [vm.cid])).toBeNull();
    expect(await okOn(w, 'has_disk', [disk])).toBe(false);
    expect(await okOn(w, 'delete_disk', [disk])).toBeNull();
    expect((await on(w, 'attach_disk', [vm.cid, disk])).response.error?.type).toBe('Bosh::Clouds::DiskNotFound');
    expect(recordsOf(m, 'vms')).toEqual(before.records);
    expect(fs.readFileSync(path.join(lab.stateDir, 'engines', engineKey(m), 'vms', vm.cid, 'metadata.json'), 'utf8')).toBe(before.metadata);
    expect(m.docker('inspect', '-f', '{{.State.Running}}', containerOn(m, vm.cid))).toBe('true');
    expect(await okOn(m, 'has_vm', [vm.cid])).toBe(true);
    expect(await okOn(m, 'has_disk', [disk])).toBe(true);
    await okOn(m, 'delete_vm', [vm.cid]);
    await okOn(m, 'delete_disk', [disk]);
    expect(recordsOf(m, 'vms')).toEqual([]);
  });
});

describe('remote disks', () => {
  /** A stemcell with e2fsprogs, as real stemcells have (the busybox test stemcell lacks them): helpers run from it. */
  let tools: string;
  /** What these tests made and have not deleted yet, with its engine, for the clean-up. */
  const vms: Array<[HostEngine, string]> = [];
  const disks: string[] = [];
  const inVm = (e: HostEngine, cid: string, script: string) => e.docker('exec', containerOn(e, cid), 'sh', '-c', script);
  const mounted = (e: HostEngine, vm: string, disk: string) => inVm(e, vm, `grep " /warden-cpi-dev/${disk} " /proc/mounts || true`);
  const label = (e: HostEngine, kind: 'container' | 'volume', id: string, key: string) => e.docker(kind, 'inspect', '-f', `{{index .${kind === 'container' ? 'Config.' : ''}Labels "${key}"}}`, id);
  /** The VM's disk directory on the manager's host: the data root is on this machine's filesystem, its mounts are not. */
  const hubOf = (e: HostEngine, vm: string) => path.join(e.docker('info', '--format', '{{.DockerRootDir}}'), 'bosh-cpi', 'vms', vm);
  /** Loop devices of this machine's kernel bound to the disk's image (by device and inode: any namespace). */
  const loops = (e: HostEngine, disk: string) => {
    const image = path.join(e.docker('info', '--format', '{{.DockerRootDir}}'), 'volumes', disk, '_data', 'disk.img');
    return require('node:child_process').execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).split('\n').filter(Boolean);
  };
  const startedAt = (e: HostEngine, vm: string) => e.docker('inspect', '-f', '{{.Id}} {{.State.StartedAt}}', containerOn(e, vm));

  beforeAll(async () => {
    const { buildStemcell } = await import('../helpers/stemcell');
    const parent = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'lab-'));
    fs.chmodSync(parent, 0o755);
    const sc = await buildStemcell(
      { name: 'bosh-busybox-e2fsprogs-test', hostTools: { 'sbin/mkfs.ext4': '/sbin/mke2fs', 'sbin/e2fsck': '/sbin/e2fsck', 'sbin/resize2fs': '/sbin/resize2fs' }, files: { 'etc/mke2fs.conf': fs.readFileSync('/etc/mke2fs.conf', 'utf8') } },
      parent,
    );
    tools = await okOn<string>(pair.manager, 'create_stemcell', [sc.imagePath, sc.cloudProperties]);
    fs.rmSync(parent, { recursive: true, force: true });
  }, 120_000);

  afterAll(async () => {
    for (const [e, vm] of vms) await on(e, 'delete_vm', [vm]).catch(() => undefined);
    for (const d of disks) await on(pair.manager, 'delete_disk', [d]).catch(() => undefined);
    if (tools) await on(pair.manager, 'delete_stemcell', [tools]).catch(() => undefined);
  }, 120_000);

  const vmOn = async (e: HostEngine) => {
    const [cid] = await okOn<[string]>(e, 'create_vm', [`agent-rd-${e.label}`, e === pair.manager ? tools : stemcells.get(e), {}, { default: { type: 'dynamic', cloud_properties: {} } }, [], {}]);
    vms.push([e, cid]);
    return cid;
  };

  it('on the manager (its host\'s mounts propagate) a sized disk attaches live, holds its size, keeps its data across VMs, grows, and snapshots', async () => {
    const m = pair.manager;
    const [vm1, vm2] = [await vmOn(m), await vmOn(m)];
    expect(label(m, 'container', containerOn(m, vm1), 'bosh.cpi.disk-mode')).toBe('remote');
    const disk = await okOn<string>(m, 'create_disk', [64, {}, vm1]);
    disks.push(disk);
    expect(label(m, 'volume', disk, 'bosh.cpi.backing')).toBe('image');

    const before = startedAt(m, vm1);
    expect(await okOn(m, 'attach_disk', [vm1, disk])).toBe(`/warden-cpi-dev/${disk}`);
    expect(startedAt(m, vm1)).toBe(before); // live: the same container, never restarted
    expect(mounted(m, vm1, disk)).toContain(' ext4 ');
    expect(loops(m, disk)).toHaveLength(1);
    expect(await okOn(m, 'get_disks', [vm1])).toEqual([disk]);
    inVm(m, vm1, `echo kept > /warden-cpi-dev/${disk}/data`);
    // The size holds: 64 MiB, and a 100 MiB write fails for want of space.
    expect(Number(inVm(m, vm1, `df -m /warden-cpi-dev/${disk} | awk 'NR==2 {print $2}'`))).toBeLessThanOrEqual(64);
    expect(inVm(m, vm1, `dd if=/dev/zero of=/warden-cpi-dev/${disk}/big bs=1M count=100 2>&1; rm -f /warden-cpi-dev/${disk}/big`)).toMatch(/No space left/);

    const taken = await on(m, 'attach_disk', [vm2, disk]);
    expect(taken.response.error?.message).toContain(`attached to VM ${vm1}`);
    expect((await on(m, 'delete_disk', [disk])).response.error?.message).toContain(`attached to VM ${vm1}`);
    expect((await on(m, 'resize_disk', [disk, 128])).response.error?.message).toContain(`attached to VM ${vm1}`);

    const snap = await okOn<string>(m, 'snapshot_disk', [disk, { deployment: 'hosts' }]);
    await okOn(m, 'detach_disk', [vm1, disk]);
    expect(mounted(m, vm1, disk)).toBe('');
    expect(loops(m, disk)).toEqual([]); // the loop device went with the last unmount
    expect(await okOn(m, 'get_disks', [vm1])).toEqual([]);
    expect(startedAt(m, vm1)).toBe(before);

    await okOn(m, 'resize_disk', [disk, 128]);
    expect((await on(m, 'resize_disk', [disk, 32])).response.error?.type).toBe('Bosh::Clouds::NotSupported');
    await okOn(m, 'attach_disk', [vm2, disk]);
    expect(inVm(m, vm2, `cat /warden-cpi-dev/${disk}/data`)).toBe('kept');
    expect(Number(inVm(m, vm2, `df -m /warden-cpi-dev/${disk} | awk 'NR==2 {print $2}'`))).toBeGreaterThan(100);
    inVm(m, vm2, `echo later > /warden-cpi-dev/${disk}/data`);

    // The snapshot is the disk as it was: its image, mounted read-only by hand, holds the first data.
    const copy = m.docker('run', '--rm', '--cap-add', 'SYS_ADMIN', '--device', '/dev/loop-control', '--device-cgroup-rule', 'b 7:* rwm', '--entrypoint', '/bin/sh', '-v', `${snap}:/snap:ro`, tools, '-c', 'n=$(losetup -f | sed s,/dev/loop,,); for i in 0 1 2 3; do mknod /dev/loop$((n + i)) b 7 $((n + i)) 2>/dev/null; done; mkdir /m && mount -o loop,ro /snap/disk.img /m && cat /m/data; umount /m');
    expect(copy).toBe('kept');
    await okOn(m, 'delete_snapshot', [snap]);
  });

  it('survives its host\'s restart: reboot_vm mounts the disk again, data intact; delete_vm releases it and leaves no directory', async () => {
    const m = pair.manager;
    const [vm2, disk] = [vms[1]?.[1] as string, disks[0] as string];
    await m.stop();
    await m.start();
    expect(m.docker('inspect', '-f', '{{.State.Running}}', containerOn(m, vm2))).toBe('false');
    await okOn(m, 'reboot_vm', [vm2]);
    expect(mounted(m, vm2, disk)).toContain(' ext4 ');
    expect(inVm(m, vm2, `cat /warden-cpi-dev/${disk}/data`)).toBe('later');
    for (const [, vm] of vms.splice(0)) {
      await okOn(m, 'delete_vm', [vm]);
      expect(fs.existsSync(hubOf(m, vm))).toBe(false);
    }
    expect(loops(m, disk)).toEqual([]);
    await okOn(m, 'delete_disk', [disk]);
    disks.splice(0);
    expect(leftovers(m).volumes).toEqual([]);
  }, 120_000);

  it('a snapshot helper killed while the disk is frozen (its deadline) is followed by a thaw: the VM writes again, no snapshot is left', async () => {
    const m = pair.manager;
    const vm = await vmOn(m);
    const disk = await okOn<string>(m, 'create_disk', [1024, {}, vm]);
    disks.push(disk);
    await okOn(m, 'attach_disk', [vm, disk]);
    // busybox cp copies the sparse gigabyte in full: seconds, well past a 2 s helper deadline.
    const ctx = context(m) as { docker: Record<string, unknown> };
    const run = await lab.call('snapshot_disk', [disk, {}], { context: { ...ctx, docker: { ...ctx.docker, helper_timeout_seconds: 2 } } });
    expect(run.response.error?.message).toMatch(/docker\.helper_timeout_seconds/);
    // A write to a frozen filesystem blocks uninterruptibly: bounded from outside the VM.
    const wrote = require('node:child_process').execFileSync('docker', ['-H', m.host, 'exec', containerOn(m, vm), 'sh', '-c', `echo after > /warden-cpi-dev/${disk}/f && sync && cat /warden-cpi-dev/${disk}/f`], { encoding: 'utf8', timeout: 20_000 });
    expect(wrote.trim()).toBe('after');
    expect(run.stderr).toMatch(/"what":"thaw","exit":0/);
    expect(m.docker('volume', 'ls', '-q', '--filter', 'label=bosh.cpi.kind=snapshot', '--filter', `label=${TEST_LABEL}=${lab.runId}`)).toBe('');
    await okOn(m, 'delete_vm', [vm]);
    vms.splice(vms.findIndex(([, c]) => c === vm), 1);
    await okOn(m, 'delete_disk', [disk]);
    disks.splice(disks.indexOf(disk), 1);
  }, 120_000);

  it('on the manager, a VM whose stemcell lacks e2fsprogs gets a directory disk (the log says why); backing: image is refused', async () => {
    const m = pair.manager;
    const [vm] = await okOn<[string]>(m, 'create_vm', ['agent-rd-plain', stemcells.get(m), {}, { default: { type: 'dynamic', cloud_properties: {} } }, [], {}]);
    vms.push([m, vm]);
    const made = await on(m, 'create_disk', [16, {}, vm]);
    const disk = made.response.result as string;
    disks.push(disk);
    expect(label(m, 'volume', disk, 'bosh.cpi.backing')).toBe('directory');
    expect(made.stderr).toMatch(/lacks a tool it needs: mkfs.ext4/);
    expect((await on(m, 'create_disk', [16, { backing: 'image' }, vm])).response.error?.message).toMatch(/lacks a tool it needs: mkfs.ext4/);
    await okOn(m, 'attach_disk', [vm, disk]);
    expect(mounted(m, vm, disk)).not.toBe('');
    await okOn(m, 'delete_vm', [vm]);
    vms.splice(vms.findIndex(([, c]) => c === vm), 1);
    await okOn(m, 'delete_disk', [disk]);
    disks.splice(disks.indexOf(disk), 1);
    expect(m.docker('volume', 'ls', '-q', '--filter', 'label=bosh.cpi.kind=persistent', '--filter', `label=${TEST_LABEL}=${lab.runId}`)).toBe('');
  });

  it('on the worker (no loop devices) disks are directories attached by recreate; an image disk is refused naming why', async () => {
    const w = pair.worker;
    const vm = await vmOn(w);
    expect(label(w, 'container', containerOn(w, vm), 'bosh.cpi.disk-mode')).toBe('recreate');
    const refused = await on(w, 'create_disk', [16, { backing: 'image' }, vm]);
    expect(refused.response.error?.message).toMatch(/attach by recreating the container/);
    expect(w.docker('volume', 'ls', '-q', '--filter', 'label=bosh.cpi.kind=persistent', '--filter', `label=${TEST_LABEL}=${lab.runId}`)).toBe('');
    // The worker's data root is on this machine's filesystem too: the decision is still the engine's.
    const disk = await okOn<string>(w, 'create_disk', [16, {}, vm]);
    expect(label(w, 'volume', disk, 'bosh.cpi.backing')).toBe('directory');
    await okOn(w, 'attach_disk', [vm, disk]);
    expect(await okOn(w, 'get_disks', [vm])).toEqual([disk]);
    await okOn(w, 'detach_disk', [vm, disk]);
    await okOn(w, 'delete_vm', [vm]);
    vms.splice(vms.findIndex(([, c]) => c === vm), 1);
    await okOn(w, 'delete_disk', [disk]);
  });
});

describe('the end', () => {
  it('leaves nothing on either engine, then nothing of the engines on this machine', async () => {
    for (const e of pair.engines) await okOn(e, 'delete_stemcell', [stemcells.get(e)]);
    for (const name of overlays.splice(0)) pair.manager.docker('network', 'rm', name);
    for (const e of pair.engines) expect(leftovers(e)).toEqual(NOTHING);
    expect(localRecords()).toEqual([]);
    expect(await lab.finish()).toEqual(NOTHING);
    await pair.destroy();
    expect(pairTraces(pair)).toEqual([]);
  }, 120_000);
});
