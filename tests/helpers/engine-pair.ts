/**
 * Two Docker engines as two hosts, for the many-hosts tests: each dockerd runs in a network
 * namespace of the test's own (`ip netns add` + a veth to a host-side bridge on 10.<octet>.250.0/24),
 * listens on TCP with mutual TLS (certificates made with openssl now), and the two form a Swarm:
 * the first is its manager, the second a worker. `--iptables=false --ip-masq=false`: traffic
 * stays on the bridge, the namespaces and loopback.
 *
 * Each engine is started as `nsenter --net=/run/netns/NS unshare -m sh -c '…; exec dockerd …'`
 * (`ip netns exec` remounts /sys and hides cgroup v1 here). In its own mount namespace it gets:
 * - its own /etc/docker, so its own key.json and engine ID (Docker 20.10 derives the ID from
 *   /etc/docker/key.json: every engine of one machine would otherwise report the same ID);
 * - a tmpfs over the CPI's directory (`hide`): like a real remote host, the engine cannot see the
 *   CPI machine's files, so settings go through its archive API;
 * - on the worker, no loop devices (an empty file bound over /dev/loop-control, as on hosts
 *   whose kernel or sandbox has none): its disks attach by recreating the container, the last
 *   resort, while the manager's attach live through helpers on its host.
 *
 * destroy() removes everything (engines, the processes left in the namespaces and in the
 * engines' own cgroup parents, namespaces, links, cgroups, directories, certificates) and is safe
 * to call after a failed start. A run killed
 * before its destroy is cleaned up by the next run's start (a registry entry per pair).
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { alive } from './lab';
import { Pki, tlsConfig, type Pem } from './pki';
import { PrivateEngine } from './private-engine';

const REGISTRY = path.join(os.tmpdir(), 'bosh-cpi-engine-pairs');
export const TLS_PORT = 2376;

interface Registration {
  pid: number;
  netns: string[];
  links: string[];
  dirs: string[];
  /** The engines' cgroup parents (dockerd --cgroup-parent), under every hierarchy. */
  cgroups: string[];
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Every directory of cgroup `name` (a top-level one), deepest first, in every hierarchy. */
function cgroupDirs(name: string): string[] {
  const roots = fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.procs')) ? [CGROUP_ROOT] : fs.readdirSync(CGROUP_ROOT).map((h) => path.join(CGROUP_ROOT, h));
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
    out.push(dir);
  };
  for (const r of roots) if (fs.existsSync(path.join(r, name))) walk(path.join(r, name));
  return out;
}

/**
 * Ends the containers' processes in our engines' cgroups (they live in namespaces of their
 * own, not in ours) and removes the cgroups: what a dockerd killed with its containers leaves.
 */
function removeCgroup(name: string): void {
  for (let attempt = 0; attempt < 20; attempt++) {
    const dirs = cgroupDirs(name);
    if (!dirs.length) return;
    for (const d of dirs) {
      quietly(() => {
        for (const pid of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) quietly(() => process.kill(Number(pid), 'SIGKILL'));
      });
    }
    for (const d of dirs) quietly(() => fs.rmdirSync(d));
    execFileSync('sleep', ['0.1']);
  }
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

function quietly(f: () => void): void {
  try {
    f();
  } catch {
    /* already gone */
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Kills what still runs in a namespace of ours (containerd shims, a dockerd), then removes it. */
function removeNetns(name: string): void {
  if (!fs.existsSync(`/run/netns/${name}`)) return;
  let pids: number[] = [];
  quietly(() => {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  });
  for (const pid of pids) quietly(() => process.kill(pid, 'SIGKILL'));
  quietly(() => ip(['netns', 'del', name]));
}

/** Processes are ended only by the namespace they run in, never by a pid file that may be stale. */
function releaseRegistration(r: Registration): void {
  for (const c of r.cgroups ?? []) removeCgroup(c);
  for (const n of r.netns) removeNetns(n);
  for (const l of r.links) quietly(() => ip(['link', 'del', l]));
  for (const d of r.dirs) fs.rmSync(d, { recursive: true, force: true });
}

/** Removes the remains of pairs whose test process died before destroy() (never a live one's). */
function sweepStale(): void {
  fs.mkdirSync(REGISTRY, { recursive: true });
  for (const f of fs.readdirSync(REGISTRY)) {
    const file = path.join(REGISTRY, f);
    let r: Registration;
    try {
      r = JSON.parse(fs.readFileSync(file, 'utf8')) as Registration;
    } catch {
      continue;
    }
    if (alive(r.pid)) continue;
    releaseRegistration(r);
    fs.rmSync(file, { force: true });
  }
}

/** One engine of the pair: a PrivateEngine in a named network namespace, reachable over TCP+TLS. */
export class HostEngine extends PrivateEngine {
  /** `tcp://<ip>:2376`, what the CPI is given. */
  readonly tcpHost: string;

  constructor(
    readonly label: string,
    readonly netns: string,
    readonly ip: string,
    private readonly certs: { ca: Pem; server: Pem },
    private readonly hide: string | undefined,
    /** Whether its host has loop devices (live, sized disks need them). */
    readonly loopDevices: boolean,
  ) {
    super(`h${label}`);
    this.tcpHost = `tcp://${ip}:${TLS_PORT}`;
  }

  /** Its containers' cgroup parent: this engine's alone, so a clean-up finds exactly them. */
  get cgroupParent(): string {
    return `${this.netns}-containers`;
  }

  override async start(): Promise<void> {
    const log = fs.openSync(path.join(this.dir, 'dockerd.log'), 'a');
    const etc = path.join(this.dir, 'etc');
    fs.mkdirSync(etc, { recursive: true });
    const script = 'set -e; mount --bind "$1" /etc/docker; if [ -n "$2" ]; then mount -t tmpfs -o size=1m,mode=0755 hidden-from-engine "$2"; fi; if [ "$3" = no-loop ]; then : > "$1/../no-loop"; mount --bind "$1/../no-loop" /dev/loop-control; fi; shift 3; exec dockerd "$@"';
    const child = spawn(
      'nsenter',
      [
        `--net=/run/netns/${this.netns}`,
        'unshare', '-m', '--propagation', 'private',
        'sh', '-c', script, 'engine', etc, this.hide ?? '', this.loopDevices ? 'loop' : 'no-loop',
        `--host=${this.host}`,
        `--host=${this.tcpHost}`,
        '--tlsverify', `--tlscacert=${this.certs.ca.certFile}`, `--tlscert=${this.certs.server.certFile}`, `--tlskey=${this.certs.server.keyFile}`,
        `--data-root=${path.join(this.dir, 'data')}`,
        `--exec-root=${path.join(this.dir, 'exec')}`,
        `--pidfile=${this.pidFile}`,
        `--cgroup-parent=/${this.cgroupParent}`,
        '--iptables=false',
        '--ip-masq=false',
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    child.unref();
    fs.closeSync(log);
    for (let i = 0; i < 120; i++) {
      if (this.answers()) return;
      if (child.exitCode !== null) break;
      await sleep(250);
    }
    throw new Error(`dockerd ${this.label} did not start; its log:\n${this.log()}`);
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'dockerd.log'), 'utf8').slice(-4000);
    } catch {
      return '(none)';
    }
  }

  /** The engine ID from its info (distinct per engine: each has its own /etc/docker). */
  id(): string {
    return this.docker('info', '--format', '{{.ID}}');
  }

  /** Everything on this engine carrying `label=value`. */
  labelled(label: string, value: string): Record<'containers' | 'volumes' | 'networks' | 'images', string[]> {
    const f = `label=${label}=${value}`;
    const list = (...a: string[]) => this.docker(...a).split('\n').filter(Boolean);
    return {
      containers: list('ps', '-aq', '--filter', f),
      volumes: list('volume', 'ls', '-q', '--filter', f),
      networks: list('network', 'ls', '-q', '--filter', f),
      images: list('images', '-q', '--filter', f),
    };
  }

  override async destroy(): Promise<void> {
    try {
      await super.destroy();
    } finally {
      removeNetns(this.netns);
      removeCgroup(this.cgroupParent);
    }
  }
}

export interface EnginePairOptions {
  /** 10.<octet>.0.0/16 is this test's (see lab.ts): the link subnet is 10.<octet>.250.0/24. */
  octet: number;
  /** A directory of the CPI machine the engines must not see (the test's CPI state and config). */
  hide?: string;
}

export class EnginePair {
  readonly tag: string;
  readonly pki: Pki;
  /** The CPI's client certificate. */
  readonly client: Pem;
  readonly manager: HostEngine;
  readonly worker: HostEngine;
  readonly bridge: string;
  private readonly registration: Registration;
  private readonly regFile: string;

  private constructor(readonly octet: number, hide: string | undefined) {
    sweepStale();
    // Interface names are limited to 15 bytes; the tag is unique per process and pair.
    this.tag = `${process.pid.toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
    this.bridge = `cpb${this.tag}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pair-${this.tag}-`));
    this.registration = { pid: process.pid, netns: [`cpi-${this.tag}-m`, `cpi-${this.tag}-w`], links: [this.bridge, `cp${this.tag}m`, `cp${this.tag}w`], dirs: [dir], cgroups: [] };
    this.regFile = path.join(REGISTRY, `${this.tag}.json`);
    this.register();
    this.pki = new Pki(path.join(dir, 'pki'));
    this.client = this.pki.client('cpi-client');
    const engine = (label: 'm' | 'w', host: number) => {
      const addr = this.linkIp(host);
      return new HostEngine(label, `cpi-${this.tag}-${label}`, addr, { ca: this.pki.ca, server: this.pki.server(`engine-${label}`, addr) }, hide, label === 'm');
    };
    this.manager = engine('m', 2);
    this.worker = engine('w', 3);
    for (const e of [this.manager, this.worker]) {
      this.registration.dirs.push(e.dir);
      this.registration.cgroups.push(e.cgroupParent);
    }
    this.register();
  }

  /** Starts both engines and joins them into a Swarm; on any failure, removes what it made. */
  static async start(opts: EnginePairOptions): Promise<EnginePair> {
    const pair = new EnginePair(opts.octet, opts.hide);
    try {
      pair.link();
      await Promise.all([pair.manager.start(), pair.worker.start()]);
      pair.swarm();
      return pair;
    } catch (e) {
      await pair.destroy();
      throw e;
    }
  }

  private register(): void {
    fs.mkdirSync(REGISTRY, { recursive: true });
    fs.writeFileSync(this.regFile, JSON.stringify(this.registration));
  }

  /** 10.<octet>.250.<host>: the link subnet (.1 is the host's end of the bridge). */
  linkIp(host: number): string {
    return `10.${this.octet}.250.${host}`;
  }

  get engines(): HostEngine[] {
    return [this.manager, this.worker];
  }

  private link(): void {
    ip(['link', 'add', this.bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${this.linkIp(1)}/24`, 'dev', this.bridge]);
    ip(['link', 'set', this.bridge, 'up']);
    for (const e of this.engines) {
      const hostEnd = `cp${this.tag}${e.label}`;
      ip(['netns', 'add', e.netns]);
      ip(['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', e.netns]);
      ip(['link', 'set', hostEnd, 'master', this.bridge, 'up']);
      ip(['-n', e.netns, 'addr', 'add', `${e.ip}/24`, 'dev', 'eth0']);
      ip(['-n', e.netns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', e.netns, 'link', 'set', 'lo', 'up']);
    }
  }

  /** swarm init on the manager, join as a worker over the link; waits until both nodes are Ready. */
  private swarm(): void {
    const m = this.manager;
    // Swarm's own networks (ingress) come from this test's block too.
    m.docker('swarm', 'init', '--advertise-addr', m.ip, '--listen-addr', `${m.ip}:2377`, '--default-addr-pool', `10.${this.octet}.192.0/19`);
    const token = m.docker('swarm', 'join-token', '-q', 'worker');
    const w = this.worker;
    w.docker('swarm', 'join', '--token', token, '--advertise-addr', w.ip, '--listen-addr', `${w.ip}:2377`, `${m.ip}:2377`);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const ready = m.docker('node', 'ls', '--format', '{{.Status}}').split('\n').filter((s) => s === 'Ready');
      if (ready.length === 2) return;
      execFileSync('sleep', ['0.2']);
    }
    throw new Error('the Swarm worker did not become Ready within 30 s');
  }

  /** The CPI's docker.tls for these engines (this CA, the CPI's client certificate). */
  tls(client: Pem = this.client, ca: Pem = this.pki.ca): { ca: string; certificate: string; private_key: string } {
    return tlsConfig(ca, client);
  }

  /**
   * The Director's cpi-config properties for one engine, as each call's context carries them:
   * `nested` is `{docker: {host, tls}}`, `top-level` the Go CPI's `{host, tls}`.
   */
  context(engine: HostEngine, form: 'nested' | 'top-level' = 'nested', tls = this.tls()): Record<string, unknown> {
    const docker = { host: engine.tcpHost, tls };
    return form === 'nested' ? { docker } : docker;
  }

  /** An attachable Swarm overlay made on the manager, as an operator makes it (see README). */
  overlay(name: string, subnet: string, gateway: string, labels: Record<string, string> = {}): string {
    const l = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    return this.manager.docker('network', 'create', '--driver', 'overlay', '--attachable', '--subnet', subnet, '--gateway', gateway, ...l, name);
  }

  /**
   * A host route on `from`'s host to `subnet` through `via`'s host: what an operator adds for
   * routed per-host bridges (one subnet per engine, no overlay). Goes with the namespace.
   */
  route(from: HostEngine, subnet: string, via: HostEngine): void {
    ip(['-n', from.netns, 'route', 'add', subnet, 'via', via.ip]);
  }

  /** Stops the engines and removes namespaces, links, directories and certificates. */
  async destroy(): Promise<void> {
    try {
      await Promise.all(this.engines.map((e) => e.destroy().catch(() => undefined)));
    } finally {
      releaseRegistration(this.registration);
      fs.rmSync(this.regFile, { force: true });
    }
  }
}

/** Every interface, namespace and mount the pair made, for the tests' own leak check. */
export function pairTraces(pair: EnginePair): string[] {
  const traces: string[] = [];
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  for (const l of [pair.bridge, `cp${pair.tag}m`, `cp${pair.tag}w`]) if (links.includes(` ${l}:`) || links.includes(` ${l}@`)) traces.push(`link ${l}`);
  for (const e of pair.engines) {
    if (fs.existsSync(`/run/netns/${e.netns}`)) traces.push(`netns ${e.netns}`);
    if (fs.existsSync(e.dir)) traces.push(`dir ${e.dir}`);
  }
  if (fs.existsSync(pair.pki.dir)) traces.push(`dir ${pair.pki.dir}`);
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  for (const e of pair.engines) if (mounts.includes(e.dir)) traces.push(`mount under ${e.dir}`);
  for (const e of pair.engines) traces.push(...cgroupDirs(e.cgroupParent).map((d) => `cgroup ${d}`));
  return traces;
}
