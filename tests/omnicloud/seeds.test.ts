/**
 * The seeds' example providers, run on recorded outputs: cloudco against a fake cloudco-cli,
 * truenas against a local stand-in of its API, lxc_cpi against fake lxc-* programs. Their
 * templates (what the programs receive) and parse rules (what comes back) are both checked, and
 * the initialization sequence of the standardization §8 runs end to end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Preflight } from '../../src/omnicloud/preflight';
import { loadProviderFile } from '../../src/omnicloud/provider/load';
import { capturedLog, engine, failure, fakeBin, FIXTURES, localServer, SHIPPED, tmpDir, type LocalServer } from './helpers';

const readLines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : []);

describe('cloudco (command-based) on a fake cloudco-cli', () => {
  const bin = tmpDir('omni-cloudco-');
  const argv = path.join(bin, 'argv.log');
  const F = path.join(FIXTURES, 'cloudco');
  const cli = fakeBin(
    bin,
    'cloudco-cli',
    `printf '%s\\n' "$*" >> ${argv}
case "$*" in
  "--version") cat ${F}/version.txt ;;
  "auth configure "*) cat ${F}/auth-configure.txt ;;
  "auth status") cat "${F}/\${AUTH_FIXTURE:-auth-status.txt}" ;;
  "worker create "*) cat ${F}/worker-create.txt ;;
  "worker list "*) cat ${F}/worker-list.txt ;;
  "worker describe wrk-missing "*) echo "Error: worker wrk-missing not found in us-central" >&2; exit 1 ;;
  "worker describe "*) cat ${F}/worker-describe.txt ;;
  "worker delete "*) cat ${F}/worker-delete.txt ;;
  "worker reboot "*) echo "Error: rate limit exceeded, retry in 30s" >&2; exit 75 ;;
  *) echo "unexpected: $*" >&2; exit 99 ;;
esac`,
  );
  const cloudco = loadProviderFile(path.join(SHIPPED, 'cloudco.json'));
  const env = { PATH: `${bin}:/usr/bin:/bin` };
  const e = engine([cloudco], { processEnv: env, settings: { cli_path: cli } });
  beforeEach(() => fs.rmSync(argv, { force: true }));
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  it('create_worker: the seed template renders one argument per value; the properties rule reads the result', async () => {
    const r = await e.run('cloudco', 'create_worker', { name: 'web 01; rm -rf /' });
    expect(readLines(argv)).toEqual(['worker create --name web 01; rm -rf / --type standard-2 --image ubuntu-20-04 --region us-central --network default']);
    expect(r.result).toEqual({ id: 'wrk-7f3a9c', name: 'web-01', ip_address: '10.1.2.3', status: 'provisioning', raw_status: 'provisioning' });
  });

  it('list_workers: the array rule over JSON lines, statuses normalized', async () => {
    expect((await e.run('cloudco', 'list_workers', {})).result).toEqual([
      { id: 'wrk-7f3a9c', name: 'web-01', status: 'running', type: 'standard-2', raw_status: 'active' },
      { id: 'wrk-1b2c3d', name: 'db-01', status: 'stopped', type: 'highmem-4', raw_status: 'off' },
      { id: 'wrk-9z8y7x', name: 'batch-07', status: 'starting', type: 'standard-8', raw_status: 'booting' },
    ]);
  });

  it('get_worker: properties with array_patterns, disks in numeric index order', async () => {
    expect((await e.run('cloudco', 'get_worker', { worker_id: 'wrk-7f3a9c' })).result).toEqual({
      id: 'wrk-7f3a9c',
      name: 'web-01',
      status: 'running',
      raw_status: 'active',
      type: 'standard-2',
      ip_address: '10.1.2.3',
      disks: [
        { id: 'dsk-boot01', size: 20 },
        { id: 'dsk-data02', size: 100 },
        { id: 'dsk-logs10', size: 500 },
      ],
    });
  });

  it('classifies CLI failures through the provider error rules', async () => {
    const nf = await failure(e.run('cloudco', 'get_worker', { worker_id: 'wrk-missing' }));
    expect([nf.code, nf.message]).toEqual(['ResourceNotFoundError', "cloudco.get_worker: 'cloudco-cli' exited with code 1: Error: worker wrk-missing not found in us-central"]);
    expect((await failure(e.run('cloudco', 'reboot_worker', { worker_id: 'wrk-7f3a9c' }))).code).toBe('RateLimitError');
    expect((await e.run('cloudco', 'delete_worker', { worker_id: 'wrk-7f3a9c' })).result).toEqual({ success: true });
  });

  it('runs the initialization sequence, feeds its outputs forward, hides the API key and caches the result', async () => {
    const cl = capturedLog();
    const cache = path.join(bin, 'cache');
    const e2 = engine([cloudco], { processEnv: env, settings: { cli_path: cli, project_id: 'proj-alpha' }, log: cl.logger });
    const outputs = await new Preflight(e2, { dir: cache, seconds: 3600 }).initialize(cloudco, { api_key: 'ck_live_0123456789abcdef' });
    expect(outputs).toEqual({ account_id: 'acct-9f8e7d', authenticated: 'authenticated', version: '2.4.1' });
    expect(readLines(argv)).toEqual(['auth configure --api-key ck_live_0123456789abcdef --project proj-alpha', 'auth status', '--version']);
    expect(cl.text()).not.toContain('ck_live_0123456789abcdef');
    expect(cl.text()).toContain('"--api-key","<redacted>"');

    fs.rmSync(argv);
    const again = await new Preflight(e2, { dir: cache, seconds: 3600 }).initialize(cloudco, { api_key: 'ck_live_0123456789abcdef' });
    expect(again).toEqual(outputs);
    expect(readLines(argv)).toEqual([]);
    expect(fs.readFileSync(path.join(cache, fs.readdirSync(cache)[0] as string), 'utf8')).not.toContain('ck_live');
  });

  it('fails the sequence when test_auth reports an expired login', async () => {
    const e3 = engine([cloudco], { processEnv: { ...env, AUTH_FIXTURE: 'auth-status-expired.txt' }, passEnv: ['AUTH_FIXTURE'], settings: { cli_path: cli, project_id: 'p', api_key: 'k-1234' } });
    const err = await failure(new Preflight(e3, { seconds: 0 }).initialize(cloudco));
    expect([err.code, err.message]).toEqual(['AuthenticationError', 'cloudco.test_auth: not authenticated (expired)']);
  });

  it('initialize_cli: the nested bash script quotes the values (a hostile cli_path runs nothing)', async () => {
    // A stand-in for curl (nothing leaves this machine): its "install script" prints its arguments.
    fakeBin(bin, 'curl', `printf '%s\\n' "$*" >> ${argv}; echo 'echo "installer args: $*"'`);
    const marker = path.join(bin, 'PWNED');
    const hostilePath = `${cli}; touch ${marker}`;
    const hostileVersion = `$(touch ${marker})`;
    const r = await e.run('cloudco', 'initialize_cli', { cli_path: hostilePath, cli_version: hostileVersion });
    expect(fs.existsSync(marker)).toBe(false);
    expect(r.result).toEqual({ success: false });
    expect(r.raw).toBe(`installer args: --version ${hostileVersion} --install-dir ${path.dirname(hostilePath)}\n`);
    expect(readLines(argv)).toEqual(['-sSL https://downloads.cloudco.io/cli/install.sh']);
    expect((await e.run('cloudco', 'initialize_cli', {})).result).toEqual({ success: true });
  });
});

describe('truenas (endpoint-based) on a local stand-in of its API', () => {
  let server: LocalServer;
  const F = path.join(FIXTURES, 'truenas');
  const json = (f: string) => fs.readFileSync(path.join(F, f), 'utf8');
  const bin = tmpDir('omni-truenas-');
  fakeBin(bin, 'pip', 'echo "Requirement already satisfied: truenas-api-client in /usr/lib/python3/dist-packages (0.4.1)"');
  const truenas = loadProviderFile(path.join(SHIPPED, 'truenas.json'));

  beforeAll(async () => {
    server = await localServer((r) => {
      const auth = r.headers['authorization'];
      if (r.url === '/api/v2.0/auth/token') {
        const b = JSON.parse(r.body) as { username: string; password: string };
        return b.username === 'root' && b.password === 'pa"ss{word}' ? { body: json('auth-token.json') } : { status: 401, body: '{"message":"bad credentials"}' };
      }
      if (auth !== 'Bearer tn-0a1b2c3d4e5f60718293') return { status: 401, body: '{"message":"Invalid API key tn-0a1b2c3d4e5f60718293x"}' };
      if (r.url === '/api/v2.0/auth/check') return { body: json('auth-check.json') };
      if (r.url === '/api/v2.0/system/info') return { body: json('system-info.json') };
      if (r.url === '/api/v2.0/pool' && r.method === 'POST') return { body: json('pool-create.json') };
      if (r.url === '/api/v2.0/pool/dataset') return { body: json('pool-dataset.json') };
      if (r.url === '/api/v2.0/pool/id/7' && r.method === 'GET') return { body: json('pool-7.json') };
      if (r.url === '/api/v2.0/pool/id/7' && r.method === 'DELETE') return { body: 'true' };
      return { status: 404, body: json('pool-missing.json') };
    });
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(bin, { recursive: true, force: true });
  });

  const settings = () => ({ api_url: `${server.url}/api/v2.0`, api_key: 'tn-0a1b2c3d4e5f60718293' });

  it('create_worker: a typed JSON value outside a string, a JSON-escaped one inside', async () => {
    const e = engine([truenas], { settings: settings() });
    const r = await e.run('truenas', 'create_worker', { name: 'tank "main"', disk_names: ['sda', 'sdb'] });
    expect(r.result).toEqual({ id: 7 });
    const req = server.requests[server.requests.length - 1];
    expect(JSON.parse(req?.body ?? '')).toEqual({ name: 'tank "main"', topology: { data: [{ type: 'STRIPE', disks: ['sda', 'sdb'] }] } });
    expect(req?.headers['authorization']).toBe('Bearer tn-0a1b2c3d4e5f60718293');
  });

  it('list_workers: the (.*) idiom takes the whole pretty-printed body; get_worker by JSON pointer with its status normalized', async () => {
    const e = engine([truenas], { settings: settings() });
    const list = (await e.run('truenas', 'list_workers', {})).result as { datasets: Array<{ id: string }> };
    expect(list.datasets.map((d) => d.id)).toEqual(['tank', 'tank/vms']);
    expect((await e.run('truenas', 'get_worker', { worker_id: 7 })).result).toEqual({ id: 7, name: 'tank', status: 'running', raw_status: 'ONLINE', healthy: true });
    expect((await e.run('truenas', 'delete_worker', { worker_id: 7 })).result).toEqual({ result: 'true' });
  });

  it('a 404 keeps the API message; a refused key is an AuthenticationError with the key redacted', async () => {
    const e = engine([truenas], { settings: settings() });
    const nf = await failure(e.run('truenas', 'get_worker', { worker_id: 99 }));
    expect(nf.code).toBe('ResourceNotFoundError');
    expect(nf.details['body']).toBe('{"message": "[ENOENT] Pool 99 does not exist"}');
    const bad = await failure(e.run('truenas', 'test_install', { api_key: 'tn-0a1b2c3d4e5f60718293x' }));
    expect(bad.code).toBe('AuthenticationError');
    expect(JSON.stringify(bad.toJSON())).not.toContain('tn-0a1b2c3d4e5f60718293');
  });

  it('the initialization sequence logs in, passes the token on as api_key and never writes it to disk', async () => {
    const cache = path.join(bin, 'cache');
    const cl = capturedLog();
    const e = engine([truenas], { settings: { api_url: `${server.url}/api/v2.0`, password: 'pa"ss{word}' }, processEnv: { PATH: `${bin}:/usr/bin:/bin` }, log: cl.logger });
    const out = await new Preflight(e, { dir: cache, seconds: 3600 }).initialize(truenas);
    expect(out).toEqual({ api_key: 'tn-0a1b2c3d4e5f60718293', authenticated: true, hostname: 'truenas.lab', version: 'TrueNAS-SCALE-23.10.2' });
    expect(fs.existsSync(cache)).toBe(false);
    const r = await e.run('truenas', 'get_worker', { worker_id: 7 }, { initOutputs: out });
    expect((r.result as { name: string }).name).toBe('tank');
    expect(cl.text()).not.toContain('tn-0a1b2c3d4e5f60718293');
    expect(cl.text()).not.toContain('pa"ss{word}');
  });
});

describe('lxc_cpi (container guide) on fake lxc programs', () => {
  const bin = tmpDir('omni-lxc-');
  const argv = path.join(bin, 'argv.log');
  for (const p of ['lxc-create', 'lxc-start', 'lxc-stop', 'lxc-destroy', 'lxc-attach', 'lxc-network', 'mount']) fakeBin(bin, p, `printf '%s %s\\n' "$(basename "$0")" "$*" >> ${argv}`);
  fakeBin(bin, 'lxc', 'echo "${LXC_VERSION:-4.0.12}"');
  const lxc = loadProviderFile(path.join(SHIPPED, 'lxc_cpi.json'));
  const env = { PATH: `${bin}:/usr/bin:/bin` };
  const e = engine([lxc], { processEnv: env });
  beforeEach(() => fs.rmSync(argv, { force: true }));
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  it('renders the guide templates; pre_delete runs before the delete; exec takes an argv array', async () => {
    await e.run('lxc_cpi', 'create_container', { name: 'web', image: 'ubuntu jammy', ports: '80', env: {} });
    await e.run('lxc_cpi', 'delete_container', { name: 'web' });
    await e.run('lxc_cpi', 'exec', { name: 'web', cmd: ['ls', '-l', '/var/vcap'] });
    await e.run('lxc_cpi', 'attach_volume', { name: 'web', volume: '/srv/vol 1', mount_point: 'data' });
    expect(readLines(argv)).toEqual([
      'lxc-create -n web -t download -- --dist ubuntu jammy',
      'lxc-stop -n web',
      'lxc-destroy -n web',
      'lxc-attach -n web -- ls -l /var/vcap',
      'mount --bind /srv/vol 1 /var/lib/lxc/web/rootfs/data',
    ]);
    expect((await failure(e.run('lxc_cpi', 'create_container', { name: 'web', image: 'x' }))).message).toBe("lxc_cpi.create_container: missing values for 'ports', 'env'");
  });

  it('checks its validation block: required commands and the lxc version range', async () => {
    await expect(new Preflight(e, { seconds: 0 }).validate(lxc)).resolves.toBeUndefined();
    const old = engine([lxc], { processEnv: { ...env, LXC_VERSION: '3.0.4' }, passEnv: ['LXC_VERSION'] });
    const err = await failure(new Preflight(old, { seconds: 0 }).validate(lxc));
    expect(err.message).toBe("provider 'lxc_cpi' cannot run here: 'lxc' 3.0.4 does not satisfy >=4.0.0");
  });
});
