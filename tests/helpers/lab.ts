/**
 * One test file's corner of the shared engine: its own label, config, state directory and
 * subnets, a stemcell imported through bin/cpi, and a leak check at the end.
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { call, ok, type CpiRun, type RunOptions } from './cpi';
import { cleanupLabelled, labelled, requireDocker, testConfig, testRunId } from './docker';
import { buildStemcell, type BuiltStemcell, type StemcellInit } from './stemcell';

/** Second octet of 10.x.0.0/16 per test file and script: Docker refuses overlapping subnets across them. */
export const SUBNETS = {
  lifecycle: 201,
  failures: 202,
  networks: 203,
  concurrency: 204,
  modes: 205,
  delivery: 206,
  disks: 207,
  stemcell: 208,
  conformance: 209,
  faults: 210,
  omnicloud: 211,
  fuzz: 213,
  secrets: 214,
  bounds: 219,
  locks: 220,
  journal: 221,
  engines: 222,
  omniDocker: 231,
  omniDockerApi: 232,
  bench: 212,
  hosts: 215,
  hostsTls: 216,
  benchHosts: 217,
  block: 225,
  stop: 226,
  privilege: 227,
  shipped: 228,
  demo: 244,
} as const;

/** A BOSH manual network on `prefix`.0/24 (`prefix`: three octets): the VM at .`host`, gateway and DNS at .1. */
export function manualNetwork(prefix: string, host: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'manual',
    ip: `${prefix}.${host}`,
    netmask: '255.255.255.0',
    gateway: `${prefix}.1`,
    dns: [`${prefix}.1`],
    default: ['dns', 'gateway'],
    cloud_properties: {},
    ...extra,
  };
}

const stemcells = new Map<StemcellInit, Promise<BuiltStemcell>>();
/** Stemcell tarballs are built once per worker process. */
export function stemcellFiles(init: StemcellInit = 'runit'): Promise<BuiltStemcell> {
  if (!stemcells.has(init)) {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-'));
    fs.chmodSync(parent, 0o755);
    stemcells.set(init, buildStemcell({ init }, parent));
  }
  return stemcells.get(init) as Promise<BuiltStemcell>;
}

const OCTET_LOCKS = path.join(os.tmpdir(), 'bosh-cpi-test-subnets');

/** Whether a process lives (EPERM: it does, as another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Claims 10.<octet>.0.0/16 for this process: test files preferring the same block (or two
 * checkouts testing on one engine at once) get different ones. A claim dies with its process.
 */
function claimOctet(preferred: number): number {
  fs.mkdirSync(OCTET_LOCKS, { recursive: true });
  const candidates = [preferred, ...Array.from({ length: 100 }, (_, i) => 150 + i).filter((o) => o !== preferred)];
  for (const octet of candidates) {
    const lock = path.join(OCTET_LOCKS, String(octet));
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return octet;
    } catch {
      const owner = Number(fs.readFileSync(lock, 'utf8'));
      if (owner === process.pid) return octet;
      if (!alive(owner)) {
        fs.rmSync(lock, { force: true });
        try {
          fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
          return octet;
        } catch {
          /* someone else reclaimed it first */
        }
      }
    }
  }
  throw new Error('no free 10.x.0.0/16 block for this test');
}

export class Lab {
  readonly runId: string;
  readonly octet: number;
  readonly configFile: string;
  readonly stateDir: string;
  private readonly stemcellCids: string[] = [];

  private wrapper: string[] | undefined;
  private readonly dockerHost: string | undefined;
  private engineId: string | undefined;

  constructor(name: string, preferredOctet: number, config: Record<string, unknown> = {}) {
    requireDocker();
    this.octet = claimOctet(preferredOctet);
    this.runId = testRunId(name);
    this.dockerHost = (config['docker'] as { host?: string } | undefined)?.host;
    ({ file: this.configFile, stateDir: this.stateDir } = testConfig(this.runId, config));
  }

  /** The CPI's record directory for this lab's engine (state_dir/engines/<engine ID>). */
  engineDir(): string {
    // An engine keeps its ID across restarts (it is in its data root): asked once.
    this.engineId ??= execFileSync('docker', [...(this.dockerHost ? ['-H', this.dockerHost] : []), 'info', '--format', '{{.ID}}'], { encoding: 'utf8' }).trim();
    return path.join(this.stateDir, 'engines', this.engineId.replace(/[^A-Za-z0-9_.-]/g, '_'));
  }

  /** A VM's record directory. */
  vmDir(cid: string): string {
    return path.join(this.engineDir(), 'vms', cid);
  }

  /** The VMs with records on this lab's engine, and the create_vm calls still marked as running. */
  records(): { vms: string[]; creating: string[] } {
    const list = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d) : []);
    return { vms: list(path.join(this.engineDir(), 'vms')), creating: list(path.join(this.engineDir(), 'creating')) };
  }

  /** From now on bin/cpi runs as `user` (in the docker group), as the Director runs it as vcap. */
  runAs(user: string): void {
    fs.mkdirSync(this.stateDir, { recursive: true });
    execFileSync('chown', ['-R', `${user}:${user}`, path.dirname(this.stateDir)]);
    this.wrapper = ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--reset-env'];
  }

  /** 10.<octet>.<third>.<fourth> */
  ip(third: number, fourth: number): string {
    return `10.${this.octet}.${third}.${fourth}`;
  }

  manual(third: number, fourth: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return manualNetwork(`10.${this.octet}.${third}`, fourth, extra);
  }

  opts(extra: RunOptions = {}): RunOptions {
    return { ...extra, ...(this.wrapper ? { wrapper: this.wrapper } : {}), args: ['-configPath', this.configFile, ...(extra.args ?? [])] };
  }

  call(method: string, args: unknown[], extra: RunOptions & { context?: Record<string, unknown>; api_version?: number } = {}): Promise<CpiRun> {
    const { context, api_version, ...run } = extra;
    return call({ method, arguments: args, ...(context ? { context } : {}), ...(api_version ? { api_version } : {}) }, this.opts(run));
  }

  ok<T = unknown>(method: string, args: unknown[], extra: RunOptions = {}): Promise<T> {
    return ok<T>({ method, arguments: args }, this.opts(extra));
  }

  async stemcell(init: StemcellInit = 'runit'): Promise<string> {
    const sc = await stemcellFiles(init);
    const cid = await this.ok<string>('create_stemcell', [sc.imagePath, sc.cloudProperties]);
    this.stemcellCids.push(cid);
    return cid;
  }

  /** The stemcell files (image and cloud_properties) for create_stemcell calls of a test's own. */
  stemcellFilesFor(init: StemcellInit = 'runit'): Promise<BuiltStemcell> {
    return stemcellFiles(init);
  }

  /** A stemcell of its own making (see buildStemcell), imported through bin/cpi. */
  async stemcellWith(opts: Parameters<typeof buildStemcell>[0]): Promise<string> {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-'));
    fs.chmodSync(parent, 0o755);
    const sc = await buildStemcell(opts, parent);
    const cid = await this.ok<string>('create_stemcell', [sc.imagePath, sc.cloudProperties]);
    this.stemcellCids.push(cid);
    return cid;
  }

  async createVm(stemcell: string, networks: Record<string, unknown>, cloudProperties: Record<string, unknown> = {}, env: Record<string, unknown> = {}): Promise<{ cid: string; networks: Record<string, any> }> {
    const [cid, nets] = await this.ok<[string, Record<string, any>]>('create_vm', [`agent-${Math.random().toString(36).slice(2, 8)}`, stemcell, cloudProperties, networks, [], env]);
    return { cid, networks: nets };
  }

  /** What carries this lab's label on the engine now. */
  leftovers(): Promise<Record<'containers' | 'volumes' | 'networks' | 'images', string[]>> {
    return labelled(this.runId);
  }

  /**
   * Deletes the stemcells it imported, then reports and removes anything left with its label,
   * and any mount left under its state directory (a leak too: a disk or directory still held).
   */
  async finish(): Promise<Record<string, string[]>> {
    for (const cid of this.stemcellCids) await this.ok('delete_stemcell', [cid]).catch(() => undefined);
    const left: Record<string, string[]> = await labelled(this.runId);
    await cleanupLabelled(this.runId);
    const mounts = unmountAll(this.stateDir).filter((m) => m !== this.stateDir);
    if (mounts.length) left['mounts'] = mounts;
    return left;
  }
}

export const NOTHING_LEFT = { containers: [], volumes: [], networks: [], images: [] };

/** Host mount points at `dir` or below it (this process's mount table), deepest first. */
export function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts (lazily) what is mounted at `dir` or below it, deepest first; returns what was. */
export function unmountAll(dir: string): string[] {
  const mounts = mountsUnder(dir);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* already gone with its parent */
    }
  }
  return mounts;
}

/** A user that may use the Docker socket but is not root (created when missing; tests run as root). */
export function dockerUser(name = 'bosh-cpi-test'): string {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--groups', 'docker', name]);
  }
  return name;
}
