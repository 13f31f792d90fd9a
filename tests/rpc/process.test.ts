/**
 * bin/cpi as the Director and the bosh CLI run it: one process per request, JSON in, exactly one
 * JSON object out, exit 0 whatever happens.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { call, CPI, DIRECTOR_PATH, ROOT, runRaw, writeConfig, type CpiRun } from '../helpers/cpi';

const C = { director_uuid: 'd0c8e1f2-0000-4000-8000-000000000001', request_id: 'cpi-123456' };
const CS = { ...C, vm: { stemcell: { api_version: 2 } } };

/** The example requests of contract §6. */
const EXAMPLES: Array<Record<string, unknown>> = [
  { method: 'info', arguments: [], context: C },
  { method: 'create_stemcell', arguments: ['/nonexistent/stemcell-x/image', { name: 'bosh-warden-boshlite-ubuntu-jammy', version: '1.500', infrastructure: 'warden', architecture: 'x86_64' }, { tags: { team: 'infra' } }], context: C, api_version: 3 },
  { method: 'delete_stemcell', arguments: ['sc-5f0e'], context: C, api_version: 2 },
  { method: 'create_vm', arguments: ['4149ba0f', 'sc-5f0e', { instance_type: 'm1.small' }, { default: { type: 'manual', ip: '10.0.0.6', prefix: '32', netmask: '255.255.255.0', gateway: '10.0.0.1', dns: ['8.8.8.8'], default: ['dns', 'gateway'], cloud_properties: { subnet: 's-1' } } }, ['vol-3475945'], { bosh: { group: 'dir-dep-web', groups: ['dir'], tags: { team: 'infra' }, mbus: { cert: { ca: 'CA', certificate: 'CERT', private_key: 'KEY' } } } }], context: CS, api_version: 2 },
  { method: 'delete_vm', arguments: ['vm-8e2a'], context: CS, api_version: 2 },
  { method: 'has_vm', arguments: ['vm-8e2a'], context: C, api_version: 2 },
  { method: 'reboot_vm', arguments: ['vm-8e2a'], context: C, api_version: 2 },
  { method: 'set_vm_metadata', arguments: ['vm-8e2a', { director: 'my-dir', deployment: 'redis', index: '0' }], context: C, api_version: 2 },
  { method: 'calculate_vm_cloud_properties', arguments: [{ cpu: 2, ram: 4096, ephemeral_disk_size: 10240 }], context: C, api_version: 2 },
  { method: 'create_disk', arguments: [10240, { type: 'gp3' }, 'vm-8e2a'], context: C, api_version: 2 },
  { method: 'delete_disk', arguments: ['disk-77c1'], context: C, api_version: 2 },
  { method: 'attach_disk', arguments: ['vm-8e2a', 'disk-77c1'], context: CS, api_version: 2 },
  { method: 'detach_disk', arguments: ['vm-8e2a', 'disk-77c1'], context: CS, api_version: 2 },
  { method: 'has_disk', arguments: ['disk-77c1'], context: C, api_version: 2 },
  { method: 'get_disks', arguments: ['vm-8e2a'], context: C, api_version: 2 },
  { method: 'resize_disk', arguments: ['disk-77c1', 20480], context: C, api_version: 2 },
  { method: 'update_disk', arguments: ['disk-77c1', 20480, { type: 'io2' }], context: C, api_version: 2 },
  { method: 'set_disk_metadata', arguments: ['disk-77c1', { director: 'my-dir' }], context: C, api_version: 2 },
  { method: 'snapshot_disk', arguments: ['disk-77c1', { deployment: 'redis', index: 0 }], context: C, api_version: 2 },
  { method: 'delete_snapshot', arguments: ['snap-91aa'], context: C, api_version: 2 },
  { method: 'current_vm_id', arguments: [], context: C, api_version: 2 },
  { method: 'create_network', arguments: [{ type: 'manual', cloud_properties: { zone: 'z1' }, range: '192.168.10.0/24', gateway: '192.168.10.1', netmask_bits: 24 }], context: C, api_version: 2 },
  { method: 'delete_network', arguments: ['net-1'], context: C, api_version: 2 },
  { method: 'ping', arguments: [], context: C, api_version: 2 },
];

/** Contract §3: every key present, log a string, ok_to_retry a boolean, nothing else on STDOUT. */
function expectContractShape(run: CpiRun): void {
  expect(run.code).toBe(0);
  const trimmed = run.stdout.trim();
  expect(trimmed.startsWith('{') && trimmed.endsWith('}')).toBe(true);
  const r = run.response as unknown as Record<string, unknown>;
  expect(Object.keys(r).sort()).toEqual(['error', 'log', 'result']);
  expect(typeof r.log).toBe('string');
  if (r.error !== null) {
    const e = r.error as Record<string, unknown>;
    expect(typeof e.type).toBe('string');
    expect(typeof e.message).toBe('string');
    expect(typeof e.ok_to_retry).toBe('boolean');
    expect(r.result).toBeNull();
  }
}

async function expectError(stdin: string, type: string, message: string | RegExp): Promise<void> {
  const run = await runRaw(stdin);
  expectContractShape(run);
  expect(run.response.error?.type).toBe(type);
  if (typeof message === 'string') expect(run.response.error?.message).toBe(message);
  else expect(run.response.error?.message).toMatch(message);
  expect(run.stdout).not.toMatch(/\n\s+at /); // no stack trace on STDOUT
}

// An engine that is not there: nothing in this file may need one.
const noEngine = { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock', BOSH_CPI_CONFIG: undefined } };

describe('bin/cpi process contract', () => {
  it('answers info with the stemcell formats and api_version 2', async () => {
    const run = await runRaw('{"method":"info","arguments":[],"context":{}}', noEngine);
    expectContractShape(run);
    expect(run.response).toEqual({ result: { stemcell_formats: ['warden-tar', 'general-tar', 'docker-light'], api_version: 2 }, error: null, log: '' });
    expect(run.stderr).toBe('');
  });

  it('answers every example request of the contract with a contract-shaped response', async () => {
    for (const req of EXAMPLES) {
      const run = await runRaw(JSON.stringify(req), noEngine);
      expectContractShape(run);
    }
  });

  it('reads STDIN to EOF without a trailing newline and with one', async () => {
    expect((await runRaw('{"method":"ping","arguments":[],"context":{}}')).response.result).toBe('pong');
    expect((await runRaw('{"method":"ping","arguments":[],"context":{}}\n\n')).response.result).toBe('pong');
  });

  it('runs with the environment the Director gives it', async () => {
    const run = await runRaw('{"method":"info","arguments":[],"context":{}}', { cleanEnv: true, env: { PATH: DIRECTOR_PATH } });
    expectContractShape(run);
    expect(run.response.error).toBeNull();
    const err = await runRaw('{"method":"nope","arguments":[],"context":{}}', { cleanEnv: true, env: { PATH: DIRECTOR_PATH } });
    expectContractShape(err);
    expect(err.response.error?.type).toBe('Bosh::Clouds::NotImplemented');
  });

  describe('bad requests get a CpiError that names the problem', () => {
    it.each([
      ['empty STDIN', '', /^empty request: expected one JSON object on STDIN/],
      ['only whitespace', ' \n\t', /^empty request/],
      ['invalid JSON', '{"method": info}', /^request is not valid JSON: Unexpected token/],
      ['truncated JSON', '{"method":"info","arguments":[', 'request is not valid JSON: Unexpected end of JSON input'],
      ['JSON with a syntax error', '{"method":"info",\n "arguments":[] "context":{}}', "request is not valid JSON: Expected ',' or '}' after property value at line 2 column 17"],
      ['a JSON array', '[]', 'request must be a JSON object like {"method":"info","arguments":[],"context":{}}, got an array'],
      ['a JSON number', '42', /got an integer$/],
      ['a JSON string', '"info"', /got a string$/],
      ['JSON null', 'null', /got null$/],
      ['missing method', '{"arguments":[],"context":{}}', "invalid request: 'method' is required (a string)"],
      ['method not a string', '{"method":7,"arguments":[],"context":{}}', "invalid request: 'method' must be a string, got an integer"],
      ['arguments not an array', '{"method":"info","arguments":{},"context":{}}', "invalid request: 'arguments' must be an array, got an object"],
      ['missing arguments', '{"method":"info","context":{}}', "invalid request: 'arguments' is required (an array)"],
      ['context not an object', '{"method":"info","arguments":[],"context":"x"}', "invalid request: 'context' must be an object, got a string"],
      ['api_version not an integer', '{"method":"info","arguments":[],"context":{},"api_version":"2"}', "invalid request: 'api_version' must be a number, got a string"],
      ['wrong argument count', '{"method":"has_vm","arguments":[],"context":{}}', 'has_vm expects 1 argument (vm_cid) but got 0: missing vm_cid'],
      ['wrong argument type', '{"method":"delete_disk","arguments":[42],"context":{}}', "delete_disk: first argument 'disk_cid': must be a string, got an integer"],
    ])('%s', async (_name, stdin, message) => {
      await expectError(stdin, 'Bosh::Clouds::CpiError', message);
    });

    it('answers NotImplemented for an unknown method', async () => {
      await expectError('{"method":"frobnicate","arguments":[],"context":{}}', 'Bosh::Clouds::NotImplemented', "Must call implemented method: Unknown method 'frobnicate'");
    });

    it('does not quote a secret from an invalid request', async () => {
      const run = await runRaw('{"method":"create_vm","arguments":["a","b",{"password":hunter2}]}');
      expect(run.stdout + run.stderr).not.toContain('hunter2');
    });
  });

  it('refuses a request over 16 MiB without reading it all', async () => {
    const big = '{"method":"info","arguments":["' + 'x'.repeat(17 * 1024 * 1024) + '"],"context":{}}';
    const run = await runRaw(big);
    expectContractShape(run);
    expect(run.response.error).toEqual({ type: 'Bosh::Clouds::CpiError', message: 'request is larger than 16 MiB; refusing to read it', ok_to_retry: false });
  });

  it('keeps anything a library prints off STDOUT', () => {
    const script = `require(${JSON.stringify(path.join(ROOT, 'dist', 'cpi.js'))}); console.log('noise from console'); process.stdout.write('noise from stdout\\n');`;
    const r = spawnSync(process.execPath, ['-e', script], { input: '{"method":"info","arguments":[],"context":{}}', encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).result.api_version).toBe(2);
    expect(r.stderr).toContain('noise from console');
    expect(r.stderr).toContain('noise from stdout');
  });

  it('reports a bad config file as a CpiError, naming the key and hiding secrets', async () => {
    const cfg = writeConfig({ docker: { host: 'tcp://h:1', tls: { ca: 'x', certificate: 'y', private_key: 'TOPSECRET', bogus: 1 } } });
    for (const args of [['-configPath', cfg], [`-configPath=${cfg}`], ['--config', cfg]]) {
      const run = await runRaw('{"method":"has_vm","arguments":["c-1"],"context":{}}', { args });
      expectContractShape(run);
      expect(run.response.error?.type).toBe('Bosh::Clouds::CpiError');
      expect(run.response.error?.message).toContain("docker.tls: unknown key 'bogus'");
      expect(run.stdout + run.stderr).not.toContain('TOPSECRET');
    }
  });

  it('answers info without reading the config or touching the engine', async () => {
    const run = await runRaw('{"method":"info","arguments":[],"context":{}}', { args: ['-configPath', '/nonexistent/cpi.json'], ...noEngine });
    expect(run.response.error).toBeNull();
  });

  it('logs each request and response at debug level with every secret redacted', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpi-debug-'));
    const cfg = writeConfig({ log_level: 'debug', docker: { host: 'unix:///nonexistent/docker.sock' }, agent: { mbus: 'https://mbus:MBUSPASSWORD@0.0.0.0:6868', blobstore: { provider: 'dav', options: { password: 'BLOBPASSWORD' } } } }, dir);
    const req = EXAMPLES.find((r) => r.method === 'create_vm')!;
    const run = await call(
      { method: 'set_vm_metadata', arguments: ['c-1', { password: 'METADATAPASSWORD' }], context: { ...C, host: 'tcp://1.2.3.4:2376', tls: { ca: 'C', certificate: 'CERTPEM', private_key: 'PRIVATEKEYPEM' }, some_unknown: 'x' } },
      { args: ['-configPath', cfg] },
    );
    expectContractShape(run);
    const createRun = await runRaw(JSON.stringify(req), { args: ['-configPath', cfg] });
    expectContractShape(createRun);
    const all = run.stdout + run.stderr + createRun.stdout + createRun.stderr;
    expect(run.stderr).toContain('"msg":"request"');
    for (const secret of ['MBUSPASSWORD', 'BLOBPASSWORD', 'METADATAPASSWORD', 'CERTPEM', 'PRIVATEKEYPEM', '"KEY"', '"CERT"']) expect(all).not.toContain(secret);
    // Warnings are also gathered into the response's log.
    expect(run.response.log).toContain('ignored context keys that are not CPI configuration');
  });

  it('exits 0 even when node cannot be found', () => {
    const r = spawnSync(CPI, [], { input: '{}', env: { PATH: '/nonexistent', CPI_NODE: '/nonexistent/node' }, encoding: 'utf8' });
    // CPI_NODE set but wrong, and PATH finds nothing: the wrapper still reports it as a CPI error.
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      result: null,
      error: { type: 'Bosh::Clouds::CloudError', message: 'CPI_NODE=/nonexistent/node is not an executable file', ok_to_retry: false },
      log: '',
    });
  });
});
