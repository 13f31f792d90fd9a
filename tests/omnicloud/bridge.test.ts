/**
 * The BOSH bridge through bin/cpi (a subprocess per call, as the Director runs it), with a test
 * provider whose commands are a recording stand-in: method map defaults and overrides, argument
 * mapping, result shapes, error mapping, NotImplemented for unmapped methods, configuration
 * errors, secrets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { call, writeConfig, type CpiRun } from '../helpers/cpi';
import { fakeBin, SHIPPED, tmpDir } from './helpers';

const root = tmpDir('omni-bridge-');
const bin = path.join(root, 'bin');
const providers = path.join(root, 'providers');
const log = path.join(root, 'calls.log');
fs.mkdirSync(bin);
fs.mkdirSync(providers);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// `record ACTION args…`: logs its arguments and answers like a small cloud CLI would.
fakeBin(
  bin,
  'record',
  `printf '%s\\n' "$*" >> ${log}
case "$1" in
  create_worker) [ "$3" = "image=missing-stemcell" ] && { echo "Error: rate limit exceeded" >&2; exit 75; }
                 [ "$3" = "image=bad-stemcell" ] && { echo "Error: image bad-stemcell is invalid" >&2; exit 1; }
                 echo "Worker ID: w-1234"; echo "IP Address: 10.0.0.9" ;;
  get_worker) [ "$2" = "w-gone" ] && { echo "Error: worker w-gone not found" >&2; exit 3; }; echo '{"id": "'"$2"'", "status": "active"}' ;;
  has_volume) [ "$2" = "d-gone" ] && { echo '{"exists": false}'; exit 0; }; echo '{"exists": true}' ;;
  delete_worker) [ "$2" = "w-gone" ] && { echo "Error: worker w-gone not found" >&2; exit 3; }; echo ok ;;
  reboot_worker) echo "Error: rate limit exceeded" >&2; exit 75 ;;
  create_volume) echo "Volume ID: d-5678" ;;
  attach_volume) echo "Device: /dev/sdc" ;;
  delete_network) echo "Error: network net-gone not found" >&2; exit 3 ;;
  create_network) echo "Network ID: n-77"; echo "Range: $3"; echo "Gateway: $4"; echo 'Reserved: ["'"$4"'"]' ;;
  success_false) echo '{"success": false, "message": "quota of workers reached"}' ;;
  empty) ;;
  leak) echo "auth failed for key $2" >&2; exit 1 ;;
  *) echo ok ;;
esac`,
);

const testProvider = {
  name: 'rec',
  type: 'cloud',
  default_settings: { region: 'r1', worker_type: 'small', api_key: '' },
  error_rules: [
    { category: 'ResourceNotFoundError', exit_codes: [3] },
    { category: 'RateLimitError', exit_codes: [75] },
  ],
  validation: { required_commands: ['record'] },
  overridable: ['worker_type', 'zone', 'disk_type'],
  actions: {
    create_worker: {
      command: 'record create_worker agent_id={agent_id} image={image} type={worker_type} zone={zone} network={network} ip={ip} name={name} region={region}',
      params: ['agent_id', 'image', 'worker_type', 'zone', 'network', 'ip', 'name', 'region'],
      parse_rules: { type: 'object', patterns: { id: { regex: 'Worker ID: (\\S+)' }, ip_address: { regex: 'IP Address: (\\S+)', optional: true } } },
    },
    get_worker: { command: 'record get_worker {worker_id}', params: ['worker_id'], parse_rules: { type: 'json' } },
    delete_worker: { command: 'record delete_worker {worker_id}', params: ['worker_id'] },
    reboot_worker: { command: 'record reboot_worker {worker_id}', params: ['worker_id'] },
    create_volume: {
      command: 'record create_volume size_gb={size_gb} size_mb={size_mb} type={disk_type} vm={vm_cid}',
      params: ['size_gb', 'size_mb', 'disk_type', 'vm_cid'],
      parse_rules: { type: 'object', patterns: { id: { regex: 'Volume ID: (\\S+)' } } },
    },
    has_volume: { command: 'record has_volume {disk_id}', params: ['disk_id'], parse_rules: { type: 'json' } },
    attach_volume: {
      command: 'record attach_volume {worker_id} {disk_id} {mount_point}',
      params: ['worker_id', 'disk_id', 'mount_point'],
      parse_rules: { type: 'object', patterns: { device: { regex: 'Device: (\\S+)' } } },
    },
    delete_network: { command: 'record delete_network {network_id}', params: ['network_id'] },
    create_network: {
      command: 'record create_network {name} {range} {gateway} {netmask_bits} {zone}',
      params: ['name', 'range', 'gateway', 'netmask_bits', 'zone'],
      parse_rules: { type: 'object', patterns: { id: { regex: 'Network ID: (\\S+)' }, range: { regex: 'Range: (\\S+)' }, gateway: { regex: 'Gateway: (\\S+)' }, reserved: { regex: 'Reserved: (.*)', transform: 'json' } } },
    },
    success_false: { command: 'record success_false', parse_rules: { type: 'json' } },
    empty: { command: 'record empty', params: ['worker_id'] },
    leak: { command: 'record leak {api_key}', params: ['api_key', 'worker_id'] },
  },
};
fs.writeFileSync(path.join(providers, 'rec.json'), JSON.stringify(testProvider));
fs.writeFileSync(path.join(providers, 'broken.json'), '{"name": "broken", "type": "command", "actions": {"a": {"command": "x {y}"}}}');

const env = { PATH: `${bin}:/usr/bin:/bin`, BOSH_CPI_CONFIG: undefined };

function config(omnicloud: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): string {
  return writeConfig({
    backend: 'omnicloud',
    state_dir: path.join(root, 'state'),
    labels: { 'io.example/team': 'infra' },
    omnicloud: { providers_dir: providers, provider: 'rec', settings: { zone: 'z-a' }, ...omnicloud },
    ...extra,
  });
}

const defaultConfig = config();

async function cpi(method: string, args: unknown[], cfg = defaultConfig, apiVersion = 2): Promise<CpiRun> {
  const run = await call({ method, arguments: args, api_version: apiVersion }, { args: ['-configPath', cfg], env });
  expect(run.code).toBe(0);
  expect(run.stdout.trim().split('\n')).toHaveLength(1);
  return run;
}

function lastCall(): string {
  return fs.readFileSync(log, 'utf8').trim().split('\n').pop() as string;
}

describe('BOSH bridge (bin/cpi, backend: omnicloud)', () => {
  it('create_vm → create_worker: agent id, stemcell, overridable cloud_properties (below the operator\'s settings), network and IP mapped; v2 result with the reported IP', async () => {
    const networks = { private: { type: 'manual', ip: '10.0.0.9', netmask: '255.255.255.0', default: ['dns', 'gateway'], cloud_properties: { name: 'vpc-1' } } };
    const run = await cpi('create_vm', ['agent-1', 'stemcell-42', { worker_type: 'large', zone: 'z-b' }, networks, [], {}]);
    expect(run.response.error).toBeNull();
    expect(run.response.result).toEqual(['w-1234', networks]);
    expect(lastCall()).toMatch(/^create_worker agent_id=agent-1 image=stemcell-42 type=large zone=z-a network=vpc-1 ip=10\.0\.0\.9 name=vm-[0-9a-f-]{36} region=r1$/);

    const dyn = await cpi('create_vm', ['agent-2', 'stemcell-42', {}, { d: { type: 'dynamic', ip: '' } }, [], {}]);
    // A dynamic network has no IP, and this provider's template needs {ip}.
    expect(dyn.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(dyn.response.error?.message).toMatch(/rec\.create_worker: missing value for 'ip'/);
  });

  it('create_vm failures are VMCreationFailed, retryable only for RateLimitError; v1 gets a plain CID', async () => {
    const nets = { n: { type: 'manual', ip: '10.0.0.9' } };
    const limited = await cpi('create_vm', ['a', 'missing-stemcell', {}, nets, [], {}]);
    expect(limited.response.error).toMatchObject({ type: 'Bosh::Clouds::VMCreationFailed', ok_to_retry: true });
    expect(limited.response.error?.message).toBe("rec.create_worker: 'record' exited with code 75: Error: rate limit exceeded [RateLimitError]");
    const bad = await cpi('create_vm', ['a', 'bad-stemcell', {}, nets, [], {}]);
    expect(bad.response.error).toMatchObject({ type: 'Bosh::Clouds::VMCreationFailed', ok_to_retry: false });
    expect((await cpi('create_vm', ['a', 's', {}, nets, [], {}], defaultConfig, 1)).response.result).toBe('w-1234');
  });

  it('has_vm → get_worker: found is true, ResourceNotFoundError is false', async () => {
    expect((await cpi('has_vm', ['w-1234'])).response.result).toBe(true);
    expect(lastCall()).toBe('get_worker w-1234');
    expect((await cpi('has_vm', ['w-gone'])).response).toMatchObject({ result: false, error: null });
  });

  it('delete_vm of a missing VM is VMNotFound; reboot_vm rate-limited is a retryable CloudError', async () => {
    expect((await cpi('delete_vm', ['w-1234'])).response).toMatchObject({ result: null, error: null });
    const gone = await cpi('delete_vm', ['w-gone']);
    expect(gone.response.error?.type).toBe('Bosh::Clouds::VMNotFound');
    expect(gone.response.error?.message).toMatch(/^VM 'w-gone' not found: rec\.delete_worker: /);
    expect((await cpi('reboot_vm', ['w-1'])).response.error).toMatchObject({ type: 'Bosh::Clouds::CloudError', ok_to_retry: true });
  });

  it('create_disk → create_volume with sizes in MiB and GiB; attach_disk returns a hint; has_disk reads exists', async () => {
    expect((await cpi('create_disk', [1536, { disk_type: 'ssd' }, 'w-1234'])).response.result).toBe('d-5678');
    expect(lastCall()).toBe('create_volume size_gb=2 size_mb=1536 type=ssd vm=w-1234');
    expect((await cpi('attach_disk', ['w-1234', 'd-5678'])).response.result).toBe('/dev/sdc');
    expect(lastCall()).toBe('attach_volume w-1234 d-5678 /warden-cpi-dev/d-5678');
    expect((await cpi('attach_disk', ['w-1234', 'd-5678'], defaultConfig, 1)).response.result).toBeNull();
    expect((await cpi('has_disk', ['d-5678'])).response.result).toBe(true);
    expect((await cpi('has_disk', ['d-gone'])).response.result).toBe(false);
  });

  it('methods the provider has no action for are NotImplemented, never a silent success', async () => {
    for (const [m, args] of [
      ['set_vm_metadata', ['w-1', { a: 'b' }]],
      ['snapshot_disk', ['d-1', {}]],
      ['delete_disk', ['d-1']],
      ['create_stemcell', ['/tmp/image', {}]],
      ['get_disks', ['w-1']],
    ] as const) {
      const r = await cpi(m, [...args]);
      expect(r.response.error).toMatchObject({ type: 'Bosh::Clouds::NotImplemented', message: `Must call implemented method: '${m}' is not implemented by the omnicloud:rec backend` });
    }
  });

  it('create_network: definition and cloud_properties mapped, the contract\'s result shape', async () => {
    const def = { type: 'manual', range: '192.168.10.0/24', gateway: '192.168.10.1', netmask_bits: 24, cloud_properties: { zone: 'z-9' } };
    // range, gateway and reserved are the provider's report, nothing invented.
    expect((await cpi('create_network', [def])).response.result).toEqual(['n-77', { range: '192.168.10.0/24', gateway: '192.168.10.1', reserved: ['192.168.10.1'] }, { zone: 'z-9' }]);
    expect(lastCall()).toMatch(/^create_network net-[0-9a-f-]{36} 192\.168\.10\.0\/24 192\.168\.10\.1 24 z-a$/);
  });

  it('delete_network of a network that is gone succeeds (idempotent delete)', async () => {
    expect((await cpi('delete_network', ['net-gone'])).response).toMatchObject({ result: null, error: null });
  });

  it('the configuration method map overrides the defaults: null unmaps, an entry maps with param templates and a hint', async () => {
    const cfg = config({
      method_map: {
        create_disk: null,
        has_vm: { action: 'get_worker', params: { worker_id: 'w-{vm_cid}-x' } },
        attach_disk: { action: 'attach_volume', hint: '/var/vcap/store/{disk_cid}@{result.device}' },
      },
    });
    expect((await cpi('create_disk', [10, {}, null], cfg)).response.error?.type).toBe('Bosh::Clouds::NotImplemented');
    await cpi('has_vm', ['7'], cfg);
    expect(lastCall()).toBe('get_worker w-7-x');
    expect((await cpi('attach_disk', ['w-1', 'd-2'], cfg)).response.result).toBe('/var/vcap/store/d-2@/dev/sdc');
  });

  it('configuration mistakes are CpiErrors that say where', async () => {
    const badMap = await cpi('has_vm', ['x'], config({ method_map: { has_vm: { action: 'get_worker', cid: 'somewhere' } } }));
    expect(badMap.response.error).toMatchObject({ type: 'Bosh::Clouds::CpiError', message: "invalid configuration: omnicloud.method_map.has_vm.cid: must be 'result:<field>' or 'param:<name>'" });
    const unknown = await cpi('has_vm', ['x'], config({ method_map: { has_vm: 'teleport' } }));
    expect(unknown.response.error?.message).toBe("invalid configuration: omnicloud.method_map.has_vm: provider 'rec' has no action 'teleport'");
    const missing = await cpi('has_vm', ['x'], config({ provider: 'nope' }));
    expect(missing.response.error?.type).toBe('Bosh::Clouds::CpiError');
    expect(missing.response.error?.message).toContain(`omnicloud provider 'nope' is not in ${providers} (loaded: rec) (files that failed to load: ${path.join(providers, 'broken.json')}: actions.a.command: placeholder {y} is not declared in params)`);
    const noProvider = await cpi('has_vm', ['x'], config({ provider: undefined }));
    expect(noProvider.response.error?.message).toBe('backend omnicloud needs omnicloud.provider: the name of the provider that serves BOSH methods');
    const badKey = await cpi('has_vm', ['x'], config({ timeout: 3 }));
    expect(badKey.response.error?.message).toMatch(/omnicloud: unknown key 'timeout'/);
  });

  it('configuration keys match case-insensitively, and the cpi-config context can pick the provider', async () => {
    const cfg = writeConfig({ Backend: 'omnicloud', State_Dir: path.join(root, 'state'), OmniCloud: { Providers_Dir: providers, Provider: 'nope', Settings: { zone: 'z' } } });
    const r = await call({ method: 'has_vm', arguments: ['w-1234'], api_version: 2, context: { director_uuid: 'd', omnicloud: { provider: 'rec' } } }, { args: ['-configPath', cfg], env });
    expect(r.response).toMatchObject({ result: true, error: null });
  });

  it('a provider that cannot run here fails before its first action, listing why', async () => {
    const r = await call({ method: 'has_vm', arguments: ['w-1'], api_version: 2 }, { args: ['-configPath', defaultConfig], env: { ...env, PATH: '/usr/bin:/bin' } });
    expect(r.response.error).toMatchObject({ type: 'Bosh::Clouds::CpiError', message: "provider 'rec' cannot run here: required command 'record' is not on PATH [ValidationError]" });
  });

  it('secrets from the configuration never reach the response or STDERR', async () => {
    const cfg = config({ settings: { zone: 'z', api_key: 'sk-very-secret-123' }, method_map: { reboot_vm: 'leak' } });
    const r = await call({ method: 'reboot_vm', arguments: ['w-1'], api_version: 2 }, { args: ['-configPath', cfg], env: { ...env, BOSH_CPI_LOG_LEVEL: 'debug' } });
    expect(r.response.error?.message).toBe("rec.leak: 'record' exited with code 1: auth failed for key <redacted> [ProviderError]");
    expect(r.stdout + r.stderr).not.toContain('sk-very-secret-123');
    expect(r.stderr).toContain('<redacted>');
  });

  it('the shipped docker provider is used when no providers_dir is configured', async () => {
    const cfg = writeConfig({ backend: 'omnicloud', state_dir: path.join(root, 'state2'), omnicloud: { provider: 'docker', validate: false } });
    const r = await call({ method: 'set_vm_metadata', arguments: ['c-1', {}], api_version: 2 }, { args: ['-configPath', cfg], env });
    // The docker provider keeps metadata in state_dir once it has found the container: there is none.
    expect(r.response.error).toMatchObject({ type: 'Bosh::Clouds::VMNotFound', message: expect.stringContaining('No such container: c-1') });
    expect(fs.existsSync(path.join(root, 'state2', 'metadata', 'vms', 'c-1.json'))).toBe(false);
    expect(fs.existsSync(path.join(SHIPPED, 'docker.json'))).toBe(true);
  });

  it('tells BOSH the truth: success: false is a CloudError with the provider\'s words; has_vm without evidence is an error, not true', async () => {
    const failed = await cpi('delete_vm', ['w-1'], config({ method_map: { delete_vm: 'success_false' } }));
    expect(failed.response.error).toMatchObject({ type: 'Bosh::Clouds::CloudError', message: 'delete_vm: rec.success_false reported success: false: quota of workers reached' });
    const noEvidence = await cpi('has_vm', ['w-1'], config({ method_map: { has_vm: 'empty' } }));
    expect(noEvidence.response.error?.type).toBe('Bosh::Clouds::CloudError');
    expect(noEvidence.response.error?.message).toMatch(/^has_vm: rec\.empty gave no evidence either way/);
    const noList = await cpi('get_disks', ['w-1'], config({ method_map: { get_disks: 'empty' } }));
    expect(noList.response.error?.message).toMatch(/^get_disks: rec\.empty returned no list of disks/);
  });

  it('create_vm reports the addresses the provider assigned, and fails (cleaning up) when it cannot honour a network', async () => {
    const wrongIp = { private: { type: 'manual', ip: '10.0.0.50', netmask: '255.255.255.0', default: ['dns', 'gateway'], cloud_properties: {} } };
    const r = await cpi('create_vm', ['agent-1', 'stemcell-42', {}, wrongIp, [], {}]);
    expect(r.response.error).toMatchObject({ type: 'Bosh::Clouds::VMCreationFailed', message: "create_vm: rec.create_worker assigned 10.0.0.9 on network 'private', not the requested 10.0.0.50" });
    const dyn = { d: { type: 'dynamic', cloud_properties: {} } };
    const ok = await cpi('create_vm', ['agent-1', 'stemcell-42', {}, dyn, [], {}], config({ method_map: { create_vm: { action: 'create_worker', params: { ip: 'none' } } } }));
    expect(ok.response.result).toEqual(['w-1234', { d: { type: 'dynamic', cloud_properties: {}, ip: '10.0.0.9' } }]);
  });

  it('operator settings win over the manifest; a manifest key the provider does not declare overridable is a CloudError naming it', async () => {
    // zone: manifest z-b, operator z-a → the operator's value.
    await cpi('create_vm', ['agent-1', 'stemcell-42', { worker_type: 'large', zone: 'z-b' }, { private: { type: 'manual', ip: '10.0.0.9' } }, [], {}]);
    expect(lastCall()).toMatch(/ type=large zone=z-a /);
    for (const key of ['api_key', 'region', 'Not-an-identifier']) {
      const r = await cpi('create_vm', ['agent-1', 'stemcell-42', { [key]: 'https://attacker.example' }, { private: { type: 'manual', ip: '10.0.0.9' } }, [], {}]);
      expect(r.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
      expect(r.response.error?.message).toBe(`create_vm: cloud_properties key '${key}' cannot be set from a manifest: provider 'rec' does not declare it overridable for create_worker (the operator sets it in omnicloud.settings)`);
    }
    const disk = await cpi('create_disk', [10, { region: 'evil' }, null]);
    expect(disk.response.error).toMatchObject({ type: 'Bosh::Clouds::CloudError' });
    expect(disk.response.error?.message).toMatch(/cloud_properties key 'region' cannot be set from a manifest/);
  });
});
