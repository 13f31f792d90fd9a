/**
 * The shipped manifests as shipped, run: each docker_cpi property block rendered with the job's
 * templates into an installation laid out as bosh create-env lays it out (compiled packages,
 * rendered job), and the CPI calls those manifests make run through the rendered bin/cpi under
 * exactly the bosh CLI's environment (BOSH_PACKAGES_DIR, BOSH_JOBS_DIR and its PATH, nothing
 * else) against a real engine, with a warden-style test stemcell (a BOSH agent's agent.json).
 *
 * The engine is one of the test's own, in its own network namespace (the manifest publishes the
 * agent on 127.0.0.1:6868 there, never on this machine's), started with the capability bounding
 * set of this kind of host: Debian's docker.io without CAP_SYS_RESOURCE, where privileged
 * containers cannot start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { layoutRelease } from '../../scripts/release/layout';
import { ROOT } from '../helpers/cpi';
import { requireDocker } from '../helpers/docker';
import { PrivateEngine } from '../helpers/private-engine';
import { buildStemcell } from '../helpers/stemcell';
import { BOSH_YML, VARS } from './bosh-yml';
import { applyOps, get, type Op } from './go-patch';
import { compilePackage, hostPlatform, interpolate, nodeTarball, readYaml, removeTmpDirs, renderJob, runClean, tmpDir } from './helpers';

type Obj = Record<string, unknown>;
const MANIFESTS = path.join(ROOT, 'manifests');
/** What the bosh CLI gives a CPI (cloud/cpi_cmd_runner.go): this PATH and the two BOSH_* variables. */
const CLI_PATH = '/usr/local/bin:/usr/bin:/bin:/sbin';
const AGENT_JSON = {
  Platform: { Linux: { UseDefaultTmpDir: true, UsePreformattedPersistentDisk: true, BindMountPersistentDisk: true, SkipDiskSetup: true } },
  Infrastructure: { Settings: { Sources: [{ Type: 'File', SettingsPath: '/var/vcap/bosh/warden-cpi-agent-env.json' }] } },
};

/** An installation as bosh create-env makes one: <dir>/packages (compiled), <dir>/jobs/docker_cpi (rendered). */
interface Installation {
  dir: string;
  call(method: string, args: unknown[]): Promise<unknown>;
  log(): string;
}

function dotted(prefix: number): string {
  const n = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** The networks argument the CLI and the Director build for an instance's static IP on a manual network. */
function networksFor(manifestNetworks: Array<{ name: string; subnets: Obj[] }>, name: string, ip: string): Obj {
  const subnet = manifestNetworks.find((n) => n.name === name)?.subnets[0] as { range: string; gateway: string; dns?: string[]; cloud_properties?: Obj };
  return {
    [name]: { type: 'manual', ip, netmask: dotted(Number(subnet.range.split('/')[1])), gateway: subnet.gateway, dns: subnet.dns ?? [], default: ['dns', 'gateway'], cloud_properties: subnet.cloud_properties ?? {} },
  };
}

/** Loop devices still bound to files under `dir` (a block VM's guards or disks: a leak). */
function boundLoops(dir: string): string[] {
  const real = fs.realpathSync(dir);
  return fs
    .readdirSync('/sys/block')
    .filter((d) => {
      try {
        return fs.readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').startsWith(`${real}/`);
      } catch {
        return false;
      }
    })
    .map((d) => `/dev/${d}`);
}

describe('the shipped manifests, run', () => {
  requireDocker();
  const engine = new PrivateEngine('shipped');
  const work = tmpDir('shipped');
  const packages = path.join(work, 'packages');
  const installations: Installation[] = [];
  let stemcellTarball: string;
  let image: string;
  let stemcellProps: Obj;

  /** Lays out an installation for one docker_cpi property block. */
  function install(name: string, properties: Obj): Installation {
    const dir = path.join(work, 'installations', name);
    renderJob({ docker_cpi: properties }, path.join(dir, 'jobs', 'docker_cpi'));
    fs.symlinkSync(packages, path.join(dir, 'packages'));
    const env = ['-i', `PATH=${CLI_PATH}`, `BOSH_PACKAGES_DIR=${path.join(dir, 'packages')}`, `BOSH_JOBS_DIR=${path.join(dir, 'jobs')}`];
    const inst: Installation = {
      dir,
      async call(method, args) {
        // The CLI calls info (api_version 1) before every method.
        for (const [m, a, v] of [['info', [], 1], [method, args, 2]] as const) {
          const r = await runClean('/usr/bin/env', [...env, path.join(dir, 'jobs', 'docker_cpi', 'bin', 'cpi')], {}, JSON.stringify({ method: m, arguments: a, context: { director_uuid: 'shipped' }, api_version: v }));
          const res = JSON.parse(r.stdout) as { result: unknown; error: { message: string } | null };
          if (r.code !== 0 || res.error) throw new Error(`${m}: ${res.error?.message ?? r.stderr}`);
          if (m === method) return res.result;
        }
        return undefined;
      },
      log: () => fs.readFileSync(path.join(dir, 'sys', 'log', 'docker_cpi', 'cpi.stderr.log'), 'utf8'),
    };
    installations.push(inst);
    return inst;
  }

  const containerOf = (vm: string) => JSON.parse(engine.docker('inspect', engine.docker('ps', '-aq', '--no-trunc', '--filter', `label=bosh.cpi.vm-cid=${vm}`)))[0];
  const vars = (extra: Obj = {}) => ({ ...VARS, docker_host: engine.host, network: 'shipped-net', stemcell_path: stemcellTarball, ...extra });

  beforeAll(async () => {
    await engine.start(['setpriv', '--bounding-set', '-sys_resource']);
    const release = path.join(work, 'release');
    await layoutRelease({
      root: ROOT,
      dir: release,
      fetchBlob: async (blob, dest) => {
        nodeTarball(dest, blob.npmName, blob.version, blob.npmName === `node-${hostPlatform()}` ? process.execPath : { script: 'exit 1' });
        return { downloaded: true };
      },
    });
    for (const pkg of ['docker_cpi_node', 'docker_cpi']) {
      const r = compilePackage(release, pkg, { packagesDir: packages });
      if (r.status !== 0) throw new Error(`compiling ${pkg}: ${r.stderr}`);
    }
    const sc = await buildStemcell({ init: 'runit', name: 'bosh-warden-boshlite-busybox-go_agent', files: { 'var/vcap/bosh/agent.json': JSON.stringify(AGENT_JSON) } }, work);
    stemcellTarball = sc.tarball;
    // What the CLI hands create_stemcell: the extracted image and stemcell.MF's cloud_properties.
    const extracted = path.join(work, 'extracted');
    fs.mkdirSync(extracted);
    execFileSync('tar', ['-xzf', stemcellTarball, '-C', extracted]);
    image = path.join(extracted, 'image');
    stemcellProps = (readYaml<Obj>(path.join(extracted, 'stemcell.MF'))['cloud_properties'] as Obj) ?? {};
  }, 180_000);

  afterAll(async () => {
    const left = engine.answers() ? engine.docker('ps', '-aq') : '';
    await engine.destroy();
    const loops = boundLoops(work);
    for (const d of loops) execFileSync('losetup', ['-d', d]);
    removeTmpDirs();
    expect({ left, loops }).toEqual({ left: '', loops: [] });
  });

  test('manifests/create-env.yml with manifests/local-stemcell.yml: the create-env calls, from a local stemcell', async () => {
    const raw = readYaml<Obj>(path.join(MANIFESTS, 'create-env.yml'));
    const m = interpolate(applyOps(raw, readYaml<Op[]>(path.join(MANIFESTS, 'local-stemcell.yml'))), vars()) as Obj;
    expect(get(m, '/resource_pools/name=vms/stemcell')).toEqual({ url: `file://${stemcellTarball}` });
    const cpi = install('create-env', get(m, '/cloud_provider/properties/docker_cpi') as Obj);
    const pool = get(m, '/resource_pools/name=vms') as { cloud_properties: Obj; env: Obj };
    const ip = get(m, '/instance_groups/name=vm/networks/0/static_ips/0') as string;

    const stemcell = (await cpi.call('create_stemcell', [image, stemcellProps])) as string;
    const [vm] = (await cpi.call('create_vm', ['agent-shipped', stemcell, pool.cloud_properties, networksFor(m['networks'] as never, 'default', ip), [], pool.env])) as [string];
    await cpi.call('set_vm_metadata', [vm, { deployment: 'single-vm', job: 'vm', instance_group: 'vm', index: '0', director: 'bosh-init', name: 'vm/0' }]);
    const c = containerOf(vm);
    // Detected, not forced: the stemcell boots with runit; unprivileged here, with what its agent needs.
    expect(c.Config.Labels['bosh.cpi.init']).toBe('runit');
    expect([c.State.Running, c.HostConfig.Privileged, c.HostConfig.CapAdd]).toEqual([true, false, ['SYS_ADMIN']]);
    expect(c.HostConfig.PortBindings['6868/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: '6868' }]);
    expect(c.Config.Labels['bosh.cpi.disk-mode']).toBe('block');
    // A persistent disk, as a disk pool would add one.
    const disk = (await cpi.call('create_disk', [1024, {}, vm])) as string;
    expect(await cpi.call('attach_disk', [vm, disk])).toBe(`/warden-cpi-dev/${disk}`);
    expect(engine.docker('exec', c.Id, 'sh', '-c', `[ -b /warden-cpi-dev/${disk} ] && echo block`)).toBe('block');

    // The log and the records are where the installation is, not in the caller's environment or TMPDIR.
    expect(cpi.log()).toMatch(/this Docker host cannot start privileged containers \(.*unable to apply caps/);
    const engineDirs = fs.readdirSync(path.join(cpi.dir, 'data', 'docker_cpi', 'engines'));
    expect(engineDirs).toHaveLength(1);
    expect(fs.existsSync(path.join(cpi.dir, 'data', 'docker_cpi', 'engines', engineDirs[0] as string, 'vms', vm))).toBe(true);

    // delete-env: has_vm, delete_vm with the disk attached, delete_disk, delete_stemcell.
    expect(await cpi.call('has_vm', [vm])).toBe(true);
    await cpi.call('delete_vm', [vm]);
    await cpi.call('delete_disk', [disk]);
    await cpi.call('delete_stemcell', [stemcell]);
    expect(engine.docker('ps', '-aq')).toBe('');
    expect(engine.docker('volume', 'ls', '-q')).toBe('');
  });

  test("manifests/bosh-deployment-cpi.yml with manifests/cloud-config.yml: the Director VM's create-env, then the Director's VMs and disks", async () => {
    const ops = [...readYaml<Op[]>(path.join(MANIFESTS, 'bosh-deployment-cpi.yml')), ...readYaml<Op[]>(path.join(MANIFESTS, 'local-stemcell.yml'))];
    const m = interpolate(applyOps(BOSH_YML, ops), vars()) as Obj;
    const createEnv = install('bosh-create-env', get(m, '/cloud_provider/properties/docker_cpi') as Obj);
    const director = install('bosh-director', get(m, '/instance_groups/name=bosh/properties/docker_cpi') as Obj);

    const stemcell = (await createEnv.call('create_stemcell', [image, stemcellProps])) as string;
    const pool = get(m, '/resource_pools/name=vms') as { cloud_properties: Obj; env: Obj };
    const [dvm] = (await createEnv.call('create_vm', ['agent-director', stemcell, pool.cloud_properties, networksFor(m['networks'] as never, 'default', VARS['internal_ip'] as string), [], pool.env])) as [string];
    const d = containerOf(dvm);
    expect(d.State.Running).toBe(true);
    // Published on ports the engine picks, as the Go CPI's docker/cpi.yml had them.
    const published = Object.entries(d.NetworkSettings.Ports as Record<string, Array<{ HostPort: string }> | null>).filter(([, b]) => b?.[0]?.HostPort);
    expect(published.map(([p]) => p).sort()).toEqual(['22/tcp', '25250/tcp', '25555/tcp', '4222/tcp', '6868/tcp', '8080/tcp', '8443/tcp']);

    // The Director's CPI (the same engine) with the cloud-config as shipped.
    const cc = interpolate(readYaml<Obj>(path.join(MANIFESTS, 'cloud-config.yml')), { network: 'shipped-net' }) as { vm_types: Array<{ name: string; cloud_properties: Obj }>; disk_types: Array<{ disk_size: number; cloud_properties?: Obj }>; networks: Array<{ name: string; subnets: Obj[] }>; compilation: { vm_type: string } };
    const dstemcell = (await director.call('create_stemcell', [image, stemcellProps])) as string;
    let host = 34;
    for (const t of cc.vm_types) {
      const [vm] = (await director.call('create_vm', [`agent-${t.name}`, dstemcell, t.cloud_properties, networksFor(cc.networks, 'default', `10.245.0.${host++}`), [], {}])) as [string];
      expect([t.name, containerOf(vm).State.Running]).toEqual([t.name, true]);
      for (const disk of cc.disk_types) {
        const cid = (await director.call('create_disk', [disk.disk_size, disk.cloud_properties ?? {}, vm])) as string;
        await director.call('attach_disk', [vm, cid]);
        await director.call('detach_disk', [vm, cid]);
        await director.call('delete_disk', [cid]);
      }
      await director.call('delete_vm', [vm]);
    }
    expect(cc.vm_types.map((t) => t.name)).toContain(cc.compilation.vm_type);
    await director.call('delete_stemcell', [dstemcell]);
    await createEnv.call('delete_vm', [dvm]);
    await createEnv.call('delete_stemcell', [stemcell]);
    for (const inst of [createEnv, director]) expect(inst.log()).not.toBe('');
  });
});
