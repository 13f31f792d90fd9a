/**
 * Helpers for the release tests: render the job as BOSH does (Ruby's ERB), read YAML with Ruby's
 * parser (no YAML library in the project), lay packages out and compile them as BOSH does.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DIRECTOR_PATH, ROOT } from '../helpers/cpi';

export const JOB_DIR = path.join(ROOT, 'jobs', 'docker_cpi');
export const RENDER_RB = path.join(__dirname, 'render.rb');
export const INFO_REQUEST = '{"method":"info","arguments":[],"context":{}}';

const created: string[] = [];

/** A new temporary directory, removed by removeTmpDirs() (each test file's afterAll). */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cpi-release-${prefix}-`));
  created.push(dir);
  return dir;
}

export function removeTmpDirs(): void {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Parses a YAML file with Ruby's Psych (aliases allowed, as BOSH allows them). */
export function readYaml<T = unknown>(file: string): T {
  const r = spawnSync('ruby', ['-ryaml', '-rjson', '-e', 'puts JSON.generate(YAML.safe_load(File.read(ARGV[0]), aliases: true))', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot parse ${file} as YAML: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface PropertyDecl {
  description?: string;
  default?: unknown;
  example?: unknown;
  type?: string;
}

export interface JobSpec {
  name: string;
  templates: Record<string, string>;
  packages: string[];
  properties: Record<string, PropertyDecl | null>;
}

export function jobSpec(jobDir = JOB_DIR): JobSpec {
  return readYaml<JobSpec>(path.join(jobDir, 'spec'));
}

export interface RenderOutcome {
  status: number | null;
  stderr: string;
  out: string;
}

/** Renders every template of the job into `out` (a new directory unless given). */
export function renderJobRaw(properties: Record<string, unknown>, out = tmpDir('job'), jobDir = JOB_DIR): RenderOutcome {
  const ctx = path.join(tmpDir('ctx'), 'context.json');
  fs.writeFileSync(ctx, JSON.stringify({ properties }));
  const r = spawnSync('ruby', [RENDER_RB, jobDir, ctx, out], { encoding: 'utf8' });
  fs.rmSync(path.dirname(ctx), { recursive: true, force: true });
  return { status: r.status, stderr: r.stderr, out };
}

export function renderJob(properties: Record<string, unknown>, out?: string): string {
  const r = renderJobRaw(properties, out);
  if (r.status !== 0) throw new Error(`rendering failed: ${r.stderr}`);
  return r.out;
}

export function readJson<T = Record<string, unknown>>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Replaces every ((variable)) in a manifest value by a stand-in, as a variable store would. */
export function interpolate<T>(value: T, vars: Record<string, unknown>): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const whole = /^\(\(([^()]+)\)\)$/.exec(v);
      if (whole) {
        const name = whole[1] as string;
        if (!(name in vars)) throw new Error(`no stand-in for ((${name}))`);
        return vars[name];
      }
      return v.replace(/\(\(([^()]+)\)\)/g, (_, name: string) => {
        if (!(name in vars)) throw new Error(`no stand-in for ((${name}))`);
        return String(vars[name]);
      });
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** Package files as bosh create-release collects them: the spec's `files` globs over src/ and blobs/. */
export function packageFiles(releaseDir: string, pkg: string): string[] {
  const spec = readYaml<{ files?: string[] }>(path.join(releaseDir, 'packages', pkg, 'spec'));
  const out = new Set<string>();
  const list = (base: string, rel = ''): string[] =>
    fs.existsSync(path.join(base, rel))
      ? fs.readdirSync(path.join(base, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? list(base, path.posix.join(rel, e.name)) : [path.posix.join(rel, e.name)]))
      : [];
  const candidates = [...list(path.join(releaseDir, 'src')), ...list(path.join(releaseDir, 'blobs'))];
  for (const glob of spec.files ?? []) {
    const re = new RegExp(`^${glob.split('**').map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('.*')}$`);
    const hits = candidates.filter((c) => re.test(c));
    if (!hits.length) throw new Error(`package ${pkg}: missing files for pattern '${glob}'`);
    hits.forEach((h) => out.add(h));
  }
  return [...out].sort();
}

export interface CompileOptions {
  /** BOSH_PACKAGES_DIR: compiled dependencies are there, the result is installed there. */
  packagesDir: string;
  /** Directories put before the Director's PATH (stub commands). */
  pathPrefix?: string[];
  /** Extra environment (on top of an empty one). */
  env?: Record<string, string>;
  /** Cut the network off with unshare -n (root only). */
  noNetwork?: boolean;
}

export function canUnshareNet(): boolean {
  return spawnSync('unshare', ['-n', 'true']).status === 0;
}

/**
 * Compiles a package as bosh create-env does: its files and packaging script in a fresh
 * directory, `bash -x packaging` there with BOSH_COMPILE_TARGET, BOSH_INSTALL_TARGET,
 * BOSH_PACKAGE_NAME and BOSH_PACKAGES_DIR, and nothing else in the environment (no HOME).
 */
export function compilePackage(releaseDir: string, pkg: string, opts: CompileOptions): SpawnSyncReturns<string> & { installDir: string } {
  const compileDir = tmpDir(`compile-${pkg}`);
  for (const rel of packageFiles(releaseDir, pkg)) {
    const from = fs.existsSync(path.join(releaseDir, 'src', rel)) ? path.join(releaseDir, 'src', rel) : path.join(releaseDir, 'blobs', rel);
    fs.mkdirSync(path.dirname(path.join(compileDir, rel)), { recursive: true });
    fs.copyFileSync(from, path.join(compileDir, rel));
  }
  fs.copyFileSync(path.join(releaseDir, 'packages', pkg, 'packaging'), path.join(compileDir, 'packaging'));
  const installDir = path.join(opts.packagesDir, pkg);
  fs.rmSync(installDir, { recursive: true, force: true });
  fs.mkdirSync(installDir, { recursive: true });
  const env = {
    PATH: [...(opts.pathPrefix ?? []), DIRECTOR_PATH].join(':'),
    BOSH_COMPILE_TARGET: compileDir,
    BOSH_INSTALL_TARGET: installDir,
    BOSH_PACKAGE_NAME: pkg,
    BOSH_PACKAGES_DIR: opts.packagesDir,
    ...opts.env,
  };
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const argv = ['-i', ...envArgs, 'bash', '-x', 'packaging'];
  const r = opts.noNetwork ? spawnSync('unshare', ['-n', 'env', ...argv], { cwd: compileDir, encoding: 'utf8' }) : spawnSync('env', argv, { cwd: compileDir, encoding: 'utf8' });
  fs.rmSync(compileDir, { recursive: true, force: true });
  return Object.assign(r, { installDir });
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with exactly the given environment, feeding `stdin`. */
export function runClean(cmd: string, args: string[], env: Record<string, string>, stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(stdin);
  });
}

/** Writes an executable POSIX sh script. */
export function writeScript(file: string, body: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

/** The npm registry's platform name for this machine's node, e.g. linux-x64. */
export function hostPlatform(): string {
  return `${process.platform}-${process.arch}`;
}

/**
 * A node-<platform> tarball as the npm registry ships one (package/bin/node, package/LICENSE,
 * package/package.json). `node` is the binary to put in: this machine's own node stands in for
 * the platform under test, a small script for the others.
 */
export function nodeTarball(file: string, npmName: string, version: string, node: string | { script: string }): void {
  const stage = tmpDir('tarball');
  const pkg = path.join(stage, 'package');
  fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
  if (typeof node === 'string') fs.copyFileSync(node, path.join(pkg, 'bin', 'node'));
  else fs.writeFileSync(path.join(pkg, 'bin', 'node'), `#!/bin/sh\n${node.script}\n`);
  fs.chmodSync(path.join(pkg, 'bin', 'node'), 0o755);
  fs.writeFileSync(path.join(pkg, 'LICENSE'), 'stand-in LICENSE\n');
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: npmName, version }));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const r = spawnSync('tar', ['-cf', '-', '-C', stage, 'package'], { maxBuffer: 1 << 30 });
  fs.rmSync(stage, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr.toString()}`);
  // Level 1: the stand-in may be a whole node binary, and only its contents matter here.
  fs.writeFileSync(file, zlib.gzipSync(r.stdout, { level: 1 }));
}

/** Fails unless two files have the same bytes (jest's toEqual on large Buffers is far too slow). */
export function expectSameBytes(actual: string, expected: string): void {
  if (!fs.readFileSync(actual).equals(fs.readFileSync(expected))) throw new Error(`${actual} differs from ${expected}`);
}
