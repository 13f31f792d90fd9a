/**
 * A Docker engine of one test's own: its own socket, data and exec roots and its own network
 * namespace, so the test may stop and restart it (engine faults) without touching the engine
 * every other test shares. (In the host's namespace a second dockerd would manage docker0
 * too: started with --bridge=none it deletes it.)
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export class PrivateEngine {
  readonly dir: string;
  readonly socket: string;
  readonly host: string;
  protected readonly pidFile: string;

  /** `keyFrom`: share another private engine's key, hence its ID (a cloned machine image). */
  constructor(
    name: string,
    private readonly keyFrom?: PrivateEngine,
  ) {
    // Short path: unix socket paths are limited to 108 bytes.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `eng-${name.slice(0, 8)}-`));
    this.socket = path.join(this.dir, 'docker.sock');
    this.host = `unix://${this.socket}`;
    this.pidFile = path.join(this.dir, 'docker.pid');
  }

  docker(...args: string[]): string {
    return execFileSync('docker', ['-H', this.host, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }

  answers(): boolean {
    try {
      this.docker('version', '--format', '{{.Server.Version}}');
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Its own key, so its own ID: Docker 20.10 derives the engine's ID from /etc/docker/key.json,
   * which every engine of one machine would otherwise share (the key path is a daemon.json setting).
   */
  private daemonJson(): string {
    if (this.keyFrom) fs.copyFileSync(path.join(this.keyFrom.dir, 'key.json'), path.join(this.dir, 'key.json'));
    const file = path.join(this.dir, 'daemon.json');
    fs.writeFileSync(file, JSON.stringify({ 'deprecated-key-path': path.join(this.dir, 'key.json') }));
    return file;
  }

  /** `prefix`: a command dockerd runs under (e.g. setpriv to narrow its capability bounding set). */
  async start(prefix: string[] = []): Promise<void> {
    const log = fs.openSync(path.join(this.dir, 'dockerd.log'), 'a');
    const child = spawn(
      'unshare',
      [
        '--net',
        'sh',
        '-c',
        'ip link set lo up && exec "$@"',
        'sh',
        ...prefix,
        'dockerd',
        `--host=${this.host}`,
        `--data-root=${path.join(this.dir, 'data')}`,
        `--exec-root=${path.join(this.dir, 'exec')}`,
        `--pidfile=${this.pidFile}`,
        `--config-file=${this.daemonJson()}`,
        '--iptables=false',
        '--ip-masq=false',
        '--bridge=none',
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    child.unref();
    for (let i = 0; i < 120; i++) {
      if (this.answers()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`the private dockerd did not start; see ${path.join(this.dir, 'dockerd.log')}`);
  }

  protected pid(): number | undefined {
    try {
      return Number(fs.readFileSync(this.pidFile, 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** Stops the engine (SIGTERM, as a service manager would) and waits until it is gone. */
  async stop(): Promise<void> {
    const pid = this.pid();
    if (!pid) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 240; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    process.kill(pid, 'SIGKILL');
  }

  /** Stops the engine and removes everything it had. */
  async destroy(): Promise<void> {
    if (this.answers()) {
      for (const id of this.docker('ps', '-aq').split('\n').filter(Boolean)) this.docker('rm', '-f', id);
    }
    await this.stop();
    try {
      execFileSync('umount', ['-R', path.join(this.dir, 'data')], { stdio: 'ignore' });
    } catch {
      /* nothing mounted */
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
