/**
 * The docker_cpi job's templates, rendered with Ruby's ERB through a BOSH-like p()/if_p()/spec
 * shim (render.rb): every template renders, config/cpi.json passes the CPI's own loader and
 * schema, properties land where the CPI reads them, and secrets stay in config/cpi.json.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import {
  JOB_DIR,
  jobSpec,
  readJson,
  removeTmpDirs,
  renderJob,
  renderJobRaw,
  tmpDir,
  writeScript,
} from './helpers';

afterAll(removeTmpDirs);

const TLS = {
  ca: '-----BEGIN CERTIFICATE-----\nCA-SECRET-MARKER\n-----END CERTIFICATE-----\n',
  certificate: '-----BEGIN CERTIFICATE-----\nCERT-SECRET-MARKER\n-----END CERTIFICATE-----\n',
  private_key: '-----BEGIN RSA PRIVATE KEY-----\nKEY-SECRET-MARKER\n-----END RSA PRIVATE KEY-----\n',
};
const MBUS = 'https://mbus:MBUS-PASSWORD-MARKER@0.0.0.0:6868';

function load(file: string): Config {
  return loadConfig({ file, env: {} }).config;
}

function renderConfig(properties: Record<string, unknown>): { dir: string; file: string; raw: Record<string, unknown>; config: Config } {
  const dir = renderJob(properties);
  const file = path.join(dir, 'config', 'cpi.json');
  return { dir, file, raw: readJson(file), config: load(file) };
}

describe('docker_cpi job spec', () => {
  const spec = jobSpec();

  test('lists every template file, and every listed template exists', () => {
    const files = fs.readdirSync(path.join(JOB_DIR, 'templates')).sort();
    expect(Object.keys(spec.templates).sort()).toEqual(files);
    expect(spec.templates).toMatchObject({ 'cpi.erb': 'bin/cpi', 'cpi.json.erb': 'config/cpi.json' });
    // bosh create-env requires exactly one job with bin/cpi; this release has one job.
    expect(fs.readdirSync(path.join(JOB_DIR, '..'))).toEqual(['docker_cpi']);
  });

  test('depends on the CPI and the node packages, which exist', () => {
    expect(spec.packages.sort()).toEqual(['docker_cpi', 'docker_cpi_node']);
    for (const p of spec.packages) expect(fs.existsSync(path.join(JOB_DIR, '..', '..', 'packages', p, 'spec'))).toBe(true);
  });

  test('declares the Go Docker CPI release property names', () => {
    for (const name of [
      'docker_cpi.host_ip',
      'docker_cpi.docker.host',
      'docker_cpi.docker.api_version',
      'docker_cpi.docker.tls',
      'docker_cpi.agent.mbus',
      'docker_cpi.agent.ntp',
      'docker_cpi.agent.blobstore.provider',
      'docker_cpi.agent.blobstore.options',
      'docker_cpi.start_containers_with_systemd',
      'docker_cpi.mount_cgroupfs',
      'docker_cpi.enable_lxcfs_support',
      'docker_cpi.light_stemcell.require_image_verification',
    ]) {
      expect(spec.properties).toHaveProperty([name]);
    }
    expect(spec.properties['docker_cpi.docker.tls']?.type).toBe('certificate');
  });

  test('describes every property', () => {
    for (const [name, decl] of Object.entries(spec.properties)) expect([name, typeof decl?.description]).toEqual([name, 'string']);
  });
});

describe('config/cpi.json', () => {
  test('with the spec defaults alone is a valid configuration equal to the CPI defaults', () => {
    const { raw, config } = renderConfig({});
    const builtIn = loadConfig({ env: {} }).config;
    // Where the spec keeps the Go CPI's defaults, the difference is deliberate and harmless:
    // agent.blobstore dav/{} (unused by Directors, which pass blobstores in env) and
    // start_containers_with_systemd false (same meaning as absent: detect per stemcell).
    expect(config.agent.blobstore).toEqual({ provider: 'dav', options: {} });
    expect(config.start_containers_with_systemd).toBe(false);
    const strip = (c: Config) => ({ ...c, agent: { ...c.agent, blobstore: undefined }, start_containers_with_systemd: undefined });
    expect(strip(config)).toEqual(strip(builtIn));
    // The Engine API version is negotiated unless pinned.
    expect(raw['docker']).toEqual({ host: 'unix:///var/run/docker.sock' });
    expect(raw).not.toHaveProperty('omnicloud');
  });

  test("accepts the Go Docker CPI's properties as bosh-deployment's docker/cpi.yml sets them", () => {
    const { raw, config } = renderConfig({
      docker_cpi: {
        agent: { blobstore: null, mbus: 'nats://10.245.0.3:4222' },
        docker: { host: 'tcp://10.0.0.5:2376', tls: TLS },
        start_containers_with_systemd: true,
      },
    });
    expect(config.docker).toMatchObject({ host: 'tcp://10.0.0.5:2376', tls: TLS });
    expect(config.docker.api_version ?? null).toBeNull();
    expect(config.agent.mbus).toBe('nats://10.245.0.3:4222');
    expect(config.start_containers_with_systemd).toBe(true);
    expect(raw['backend']).toBe('docker');
  });

  test('carries every property of its own into the configuration', () => {
    const { raw, config } = renderConfig({
      docker_cpi: {
        docker: { host: 'https://engine.example:2376', api_version: '1.41', connect_timeout_seconds: 3, request_timeout_seconds: 7, idle_timeout_seconds: 5, image_timeout_seconds: 600, helper_timeout_seconds: 40, tls: TLS },
        agent: { mbus: MBUS, ntp: ['time1.example'], blobstore: { provider: 'local', options: { blobstore_path: '/var/vcap/micro_bosh/data/cache' } } },
        start_containers_with_systemd: true,
        mount_cgroupfs: false,
        enable_lxcfs_support: true,
        light_stemcell: { require_image_verification: false, disable_light_stemcells: true },
        backend: 'docker',
        privileged: false,
        log_level: 'debug',
        labels: { team: 'infra', 'example.com/owner': 'bosh' },
        state_dir: '/var/vcap/data/docker_cpi',
        agent_settings_paths: ['/var/vcap/bosh/warden-cpi-agent-env.json'],
        settings_delivery: 'archive',
        remote_disks: 'recreate',
        stop_timeout_seconds: 30,
        lock_timeout_seconds: 45,
        start_settle_seconds: 0.5,
        host_ip: '10.254.50.4',
      },
    });
    expect(config).toMatchObject({
      backend: 'docker',
      log_level: 'debug',
      docker: { host: 'https://engine.example:2376', api_version: '1.41', connect_timeout_seconds: 3, request_timeout_seconds: 7, idle_timeout_seconds: 5, image_timeout_seconds: 600, helper_timeout_seconds: 40, tls: TLS },
      agent: { mbus: MBUS, ntp: ['time1.example'], blobstore: { provider: 'local', options: { blobstore_path: '/var/vcap/micro_bosh/data/cache' } } },
      start_containers_with_systemd: true,
      mount_cgroupfs: false,
      enable_lxcfs_support: true,
      light_stemcell: { require_image_verification: false, disable_light_stemcells: true },
      privileged: false,
      labels: { team: 'infra', 'example.com/owner': 'bosh' },
      state_dir: '/var/vcap/data/docker_cpi',
      agent_settings_paths: ['/var/vcap/bosh/warden-cpi-agent-env.json'],
      settings_delivery: 'archive',
      remote_disks: 'recreate',
      stop_timeout_seconds: 30,
      lock_timeout_seconds: 45,
      start_settle_seconds: 0.5,
    });
    // host_ip is the pre-start's business, not the CPI's.
    expect(JSON.stringify(raw)).not.toContain('10.254.50.4');
  });

  test('keeps both digits of an unquoted YAML api_version such as 1.40', () => {
    expect(renderConfig({ docker_cpi: { docker: { api_version: 1.4 } } }).config.docker.api_version).toBe('1.40');
    expect(renderConfig({ docker_cpi: { docker: { api_version: 1.41 } } }).config.docker.api_version).toBe('1.41');
  });

  test('leaves TLS out for a unix:// engine, as the Go CPI did', () => {
    const { raw } = renderConfig({ docker_cpi: { docker: { host: 'unix:///var/run/docker.sock', tls: TLS } } });
    expect(raw['docker']).toEqual({ host: 'unix:///var/run/docker.sock' });
  });

  test('fails to render with incomplete TLS, naming the property and printing no secret', () => {
    const r = renderJobRaw({ docker_cpi: { docker: { host: 'tcp://10.0.0.5:2376', tls: { ca: TLS.ca, certificate: TLS.certificate } } } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Can't find property 'docker_cpi.docker.tls.private_key'");
    expect(r.stderr).not.toMatch(/SECRET-MARKER/);
  });

  test('passes docker_cpi.omnicloud through unchanged, and only when set', () => {
    const omnicloud = {
      providers_dir: '/var/vcap/jobs/providers/config',
      provider: 'docker',
      methods: { create_vm: 'create_container', delete_vm: { action: 'delete_container' } },
      nested: { list: [1, 'two', { three: true }], empty: {} },
    };
    const dir = renderJob({ docker_cpi: { backend: 'omnicloud', omnicloud } });
    const raw = readJson(path.join(dir, 'config', 'cpi.json'));
    expect(raw['omnicloud']).toEqual(omnicloud);
    expect(raw['backend']).toBe('omnicloud');
    expect(readJson(path.join(renderJob({}), 'config', 'cpi.json'))).not.toHaveProperty('omnicloud');
  });

  test('renders a real omnicloud block that the CPI loads', () => {
    const omnicloud = {
      providers_dir: '/var/vcap/jobs/providers/config',
      provider: 'docker',
      method_map: { reboot_vm: null },
      settings: { network_mode: 'none' },
      timeout_seconds: 120,
      env: { DOCKER_HOST: 'unix:///var/run/docker.sock' },
    };
    const { config } = renderConfig({ docker_cpi: { backend: 'omnicloud', omnicloud } });
    expect(config.backend).toBe('omnicloud');
    expect(config.omnicloud).toMatchObject(omnicloud);
  });

  test("leaves validation to the CPI, whose error names the key and not the value", () => {
    const dir = renderJob({ docker_cpi: { log_level: 'loud', agent: { mbus: MBUS } } });
    expect(() => load(path.join(dir, 'config', 'cpi.json'))).toThrow(/log_level/);
    try {
      load(path.join(dir, 'config', 'cpi.json'));
    } catch (e) {
      expect((e as Error).message).not.toContain('MBUS-PASSWORD-MARKER');
    }
  });

  test('secrets are only in config/cpi.json, never in the scripts', () => {
    const dir = renderJob({ docker_cpi: { docker: { host: 'tcp://10.0.0.5:2376', tls: TLS }, agent: { mbus: MBUS } } });
    for (const script of ['bin/cpi', 'bin/pre-start']) {
      const text = fs.readFileSync(path.join(dir, script), 'utf8');
      expect(text).not.toMatch(/SECRET-MARKER|MBUS-PASSWORD-MARKER/);
    }
    expect(fs.readFileSync(path.join(dir, 'config', 'cpi.json'), 'utf8')).toContain('KEY-SECRET-MARKER');
  });
});

describe('bin/pre-start', () => {
  /** Runs the rendered pre-start with stub mkdir/chown/id/ip that log their arguments. */
  function runPreStart(properties: Record<string, unknown>, loAddrs = ''): { status: number | null; calls: string[]; stderr: string } {
    const dir = renderJob(properties);
    const stubs = tmpDir('stubs');
    const log = path.join(stubs, 'calls.log');
    for (const cmd of ['mkdir', 'chown', 'ip', 'id']) {
      const out = cmd === 'ip' ? `[ "$1 $2" = "addr show" ] && printf '%s\\n' "${loAddrs}"` : 'true';
      writeScript(path.join(stubs, cmd), `echo "${cmd} $*" >> "${log}"\n${out}\nexit 0`);
    }
    const r = spawnSync('/bin/sh', [path.join(dir, 'bin', 'pre-start')], { env: { PATH: `${stubs}:/usr/bin:/bin` }, encoding: 'utf8' });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
    return { status: r.status, calls, stderr: r.stderr };
  }

  test('creates the log and state directories for vcap and leaves lo alone without host_ip', () => {
    const r = runPreStart({});
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      'mkdir -p /var/vcap/sys/log/docker_cpi',
      'id vcap',
      'chown vcap:vcap /var/vcap/sys/log/docker_cpi',
      'mkdir -p -m 0700 /var/vcap/data/docker_cpi',
      'id vcap',
      'chown vcap:vcap /var/vcap/data/docker_cpi',
    ]);
    // With docker_cpi.state_dir set, that directory is the operator's to provide.
    expect(runPreStart({ docker_cpi: { state_dir: '/srv/cpi' } }).calls).toEqual(['mkdir -p /var/vcap/sys/log/docker_cpi', 'id vcap', 'chown vcap:vcap /var/vcap/sys/log/docker_cpi']);
  });

  test('adds host_ip to lo once, as the Go CPI did', () => {
    const props = { docker_cpi: { host_ip: '10.254.50.4' } };
    expect(runPreStart(props).calls).toContain('ip addr add 10.254.50.4 dev lo');
    const again = runPreStart(props, '    inet 10.254.50.4/32 scope global lo');
    expect(again.status).toBe(0);
    expect(again.calls).toContain('ip addr show dev lo');
    expect(again.calls.filter((c) => c.startsWith('ip addr add'))).toEqual([]);
  });

  test('refuses a host_ip that is not an address', () => {
    const r = renderJobRaw({ docker_cpi: { host_ip: '10.0.0.1; touch /tmp/pwned' } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('docker_cpi.host_ip must be an IPv4 or IPv6 address');
  });
});
