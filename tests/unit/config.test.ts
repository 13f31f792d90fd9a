import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configPathFromArgv, loadConfig } from '../../src/config/load';
import { ENGINE_BOUNDS } from '../../src/config/schema';
import { BoshError } from '../../src/rpc/errors';

const env = { HOME: os.tmpdir() };

function file(content: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  const f = path.join(dir, 'cpi.json');
  fs.writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

function loadError(f: () => unknown): BoshError {
  try {
    f();
  } catch (e) {
    return e as BoshError;
  }
  throw new Error('expected an error');
}

const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----';

describe('configuration', () => {
  it('has defaults that work on a developer box', () => {
    const { config } = loadConfig({ env: { HOME: os.tmpdir() } });
    expect(config.docker.host).toBe('unix:///var/run/docker.sock');
    expect(config.backend).toBe('docker');
    expect(config.agent_settings_paths).toEqual(['/var/vcap/bosh/warden-cpi-agent-env.json', '/var/vcap/bosh/user_data.json']);
    expect(config.docker.api_version).toBeUndefined();
    expect(path.isAbsolute(config.state_dir)).toBe(true);
  });

  it('uses DOCKER_HOST for the default when no file is given', () => {
    const { config } = loadConfig({ env: { ...env, DOCKER_HOST: 'tcp://127.0.0.1:2375' } });
    expect(config.docker.host).toBe('tcp://127.0.0.1:2375');
  });

  it('accepts the Go Docker CPI cpi.json with case-insensitive keys', () => {
    const f = file({
      start_containers_with_systemd: true,
      Mount_CgroupFS: false,
      enable_lxcfs_support: true,
      light_stemcell: { require_image_verification: false },
      actions: {
        docker: { Host: 'tcp://10.0.0.5:4243', API_Version: '1.44', TLS: { CA: 'ca', Certificate: 'cert', Private_Key: 'key' } },
        Agent: { Mbus: 'nats://nats:pw@10.0.0.11:4222', NTP: ['ntp.example'], Blobstore: { Provider: 'dav', Options: { Endpoint: 'http://x', user: 'u' } } },
      },
    });
    const { config } = loadConfig({ file: f, env });
    expect(config.docker).toEqual({ host: 'tcp://10.0.0.5:4243', api_version: '1.44', tls: { ca: 'ca', certificate: 'cert', private_key: 'key' }, ...ENGINE_BOUNDS });
    expect(config.agent.mbus).toBe('nats://nats:pw@10.0.0.11:4222');
    expect(config.agent.ntp).toEqual(['ntp.example']);
    // Free-form maps keep their keys as written.
    expect(config.agent.blobstore).toEqual({ provider: 'dav', options: { Endpoint: 'http://x', user: 'u' } });
    expect(config.start_containers_with_systemd).toBe(true);
    expect(config.mount_cgroupfs).toBe(false);
    expect(config.enable_lxcfs_support).toBe(true);
    expect(config.light_stemcell.require_image_verification).toBe(false);
  });

  it('accepts cert/key as names for certificate/private_key', () => {
    const { config } = loadConfig({ file: file({ docker: { host: 'tcp://h:1', tls: { ca: 'a', cert: 'b', key: 'c' } } }), env });
    expect(config.docker.tls).toEqual({ ca: 'a', certificate: 'b', private_key: 'c' });
  });

  it('names the key and the problem of a bad config, never the value', () => {
    const e = loadError(() => loadConfig({ file: file({ docker: { host: 12, tls: { ca: 'a', certificate: 'b', private_key: PEM_KEY, extra: 1 } } }), env }));
    expect(e.boshType).toBe('Bosh::Clouds::CpiError');
    expect(e.message).toContain('docker.host: must be a string, got an integer');
    expect(e.message).toContain("docker.tls: unknown key 'extra'");
    expect(e.message).not.toContain('TOPSECRET');
  });

  it('rejects unknown top-level keys and bad enum values', () => {
    expect(loadError(() => loadConfig({ file: file({ bakend: 'docker' }), env })).message).toContain("unknown key 'bakend'");
    expect(loadError(() => loadConfig({ file: file({ log_level: 'loud' }), env })).message).toContain('log_level: expected one of');
  });

  it('rejects an encrypted TLS key with advice, without printing it', () => {
    const enc = '-----BEGIN ENCRYPTED PRIVATE KEY-----\nSECRETSTUFF\n-----END ENCRYPTED PRIVATE KEY-----';
    const e = loadError(() => loadConfig({ file: file({ docker: { host: 'tcp://h:1', tls: { ca: 'a', certificate: 'b', private_key: enc } } }), env }));
    expect(e.message).toContain('docker.tls.private_key: is an encrypted private key');
    expect(e.message).not.toContain('SECRETSTUFF');
  });

  it('explains a missing, unreadable or invalid file', () => {
    expect(loadError(() => loadConfig({ file: '/nonexistent/cpi.json', env })).message).toBe('config file /nonexistent/cpi.json does not exist');
    const bad = file('{"agent": {"mbus": "nats://u:hunter2@h"');
    const e = loadError(() => loadConfig({ file: bad, env }));
    expect(e.message).toMatch(/is not valid JSON/);
    expect(e.message).not.toContain('hunter2');
    expect(loadError(() => loadConfig({ file: file('[1]'), env })).message).toContain('must hold a JSON object');
  });

  it('overlays context keys (multi-CPI) in the Go CPI top-level form and the nested docker form', () => {
    const f = file({ docker: { host: 'unix:///var/run/docker.sock' }, agent: { mbus: 'nats://a' } });
    const top = loadConfig({ file: f, env, context: { director_uuid: 'd', request_id: 'r', vm: {}, host: 'tcp://10.1.1.1:4243', tls: { ca: 'a', certificate: 'b', private_key: 'c' } } });
    expect(top.config.docker.host).toBe('tcp://10.1.1.1:4243');
    expect(top.config.docker.tls?.ca).toBe('a');
    expect(top.config.agent.mbus).toBe('nats://a');
    const nested = loadConfig({ file: f, env, context: { Docker: { host: 'tcp://10.2.2.2:4243' }, agent: { mbus: 'nats://b' } } });
    expect(nested.config.docker.host).toBe('tcp://10.2.2.2:4243');
    expect(nested.config.agent.mbus).toBe('nats://b');
  });

  it('ignores context keys that are not configuration, and reports invalid ones', () => {
    const r = loadConfig({ env, context: { director_uuid: 'd', some_operator_property: 1 } });
    expect(r.ignoredContextKeys).toEqual(['some_operator_property']);
    const e = loadError(() => loadConfig({ env, context: { docker: { host: 'ftp://x' } } }));
    expect(e.message).toContain("with the request's cpi-config context");
    expect(e.message).toContain('docker.host: must be unix://');
  });

  it('reports a file problem as a file problem when the request also carries a cpi-config context', () => {
    const f = file({ docker: { host: 'unix:///var/run/docker.sock' }, stop_timeout_seconds: -1 });
    const e = loadError(() => loadConfig({ file: f, env, context: { director_uuid: 'd', docker: { host: 'ftp://x' } } }));
    expect(e.message).toMatch(/^invalid configuration \(config file [^)]*\): stop_timeout_seconds/);
    expect(e.message).not.toContain('cpi-config');
  });

  it('lets BOSH_CPI_LOG_LEVEL override the level', () => {
    expect(loadConfig({ env: { ...env, BOSH_CPI_LOG_LEVEL: 'DEBUG' } }).config.log_level).toBe('debug');
    expect(loadError(() => loadConfig({ env: { ...env, BOSH_CPI_LOG_LEVEL: 'chatty' } })).message).toContain('BOSH_CPI_LOG_LEVEL');
  });

  it('reads the config path from the flags the job and people use', () => {
    expect(configPathFromArgv(['-configPath', '/a'])).toBe('/a');
    expect(configPathFromArgv(['-configPath=/b'])).toBe('/b');
    expect(configPathFromArgv(['--config', '/c'])).toBe('/c');
    expect(configPathFromArgv(['--config=/d'])).toBe('/d');
    expect(configPathFromArgv([])).toBeUndefined();
    expect(() => configPathFromArgv(['--config'])).toThrow('--config needs a file path');
  });

  it('reads the file named by BOSH_CPI_CONFIG', () => {
    const f = file({ log_level: 'warn' });
    expect(loadConfig({ env: { ...env, BOSH_CPI_CONFIG: f } }).config.log_level).toBe('warn');
  });
});
