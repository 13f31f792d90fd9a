/**
 * The tests' view of the Docker engine: they share one engine, so every resource a test makes
 * carries a label unique to its file and is cleaned up by that label only.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { writeConfig } from './cpi';
import { SECRETS } from './secrets';

const pexec = promisify(execFile);
export const TEST_LABEL = 'io.bosh-container-cpi.test';

/** Fails (never skips) when no engine answers: these tests exist to drive a real one. */
export function requireDocker(): void {
  try {
    execFileSync('docker', ['version', '--format', '{{.Server.APIVersion}}'], { stdio: 'pipe', timeout: 20000 });
  } catch (e) {
    const msg = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? String(e);
    throw new Error(`No Docker engine answers (${msg}). These tests drive a real engine: run scripts/setup first.`);
  }
}

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await pexec('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

export async function inspect<T = Record<string, any>>(kind: 'container' | 'volume' | 'network' | 'image', id: string): Promise<T> {
  const out = await docker(kind, 'inspect', id);
  return (JSON.parse(out) as T[])[0] as T;
}

export async function exists(kind: 'container' | 'volume' | 'network' | 'image', id: string): Promise<boolean> {
  try {
    await docker(kind, 'inspect', id);
    return true;
  } catch {
    return false;
  }
}

/** A run-unique label value for one test file. */
export function testRunId(name: string): string {
  return `${name}-${process.pid}-${Date.now().toString(36)}`;
}

/** Everything on the engine carrying this test's label (or another `label` with value `runId`). */
export async function labelled(runId: string, label = TEST_LABEL): Promise<Record<'containers' | 'volumes' | 'networks' | 'images', string[]>> {
  const f = `label=${label}=${runId}`;
  const list = async (...a: string[]) => (await docker(...a)).split('\n').filter(Boolean);
  return {
    containers: await list('ps', '-aq', '--filter', f),
    volumes: await list('volume', 'ls', '-q', '--filter', f),
    networks: await list('network', 'ls', '-q', '--filter', f),
    images: await list('images', '-q', '--filter', f),
  };
}

/**
 * Removes what carries this test's label (or `label`); returns what was found (a leak when
 * non-empty). Only flags every docker CLI since 20.10 (Debian's docker.io) accepts.
 */
export async function cleanupLabelled(runId: string, label = TEST_LABEL): Promise<Record<string, string[]>> {
  const found = await labelled(runId, label);
  for (const c of found.containers) await docker('rm', '-f', '-v', c).catch(() => undefined);
  for (const v of found.volumes) await docker('volume', 'rm', '-f', v).catch(() => undefined);
  for (const n of found.networks) await docker('network', 'rm', n).catch(() => undefined);
  for (const i of [...new Set(found.images)]) await docker('rmi', '-f', i).catch(() => undefined);
  return found;
}

/**
 * A CPI config for tests: this test's label on everything, its own state dir (`dir`/state unless
 * `extra` says otherwise), unprivileged; written as `dir`/cpi.json.
 */
export function testConfig(runId: string, extra: Record<string, unknown> = {}, dir = fs.mkdtempSync(path.join(os.tmpdir(), `cpi-${runId}-`))): { file: string; stateDir: string } {
  const config: Record<string, unknown> = {
    // TLS material is unused on a unix socket, but it is configuration the logs must not show.
    docker: { host: 'unix:///var/run/docker.sock', tls: { ca: SECRETS.tlsCert, certificate: SECRETS.tlsCert, private_key: SECRETS.tlsKey } },
    agent: {
      mbus: `https://mbus:${SECRETS.mbusPassword}@0.0.0.0:6868`,
      ntp: ['0.pool.ntp.org'],
      blobstore: { provider: 'dav', options: { endpoint: 'http://127.0.0.1:25250', user: 'agent', password: SECRETS.blobstorePassword } },
    },
    labels: { [TEST_LABEL]: runId },
    state_dir: path.join(dir, 'state'),
    privileged: false,
    stop_timeout_seconds: 5,
    ...extra,
  };
  return { file: writeConfig(config, dir), stateDir: config['state_dir'] as string };
}

/** The container of a VM CID (found by label: set_vm_metadata renames containers). */
export async function containerOf(vmCid: string): Promise<string> {
  const id = await docker('ps', '-aq', '--no-trunc', '--filter', `label=bosh.cpi.vm-cid=${vmCid}`);
  if (!id) throw new Error(`no container for VM ${vmCid}`);
  return id.split('\n')[0] as string;
}

export async function execIn(container: string, script: string): Promise<string> {
  return docker('exec', container, '/bin/sh', '-c', script);
}

/** A TCP port that is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A cgroup limit file of a container, on a cgroup v1 or v2 host. */
/** `v1` is controller/file (memory/memory.limit_in_bytes), `v2` the unified file (memory.max). */
export function cgroupValue(containerId: string, v1: string, v2: string): string {
  const controller = v1.split('/')[0] as string;
  const file = v1.split('/')[1] as string;
  const paths = [
    `/sys/fs/cgroup/${controller}/docker/${containerId}/${file}`,
    `/sys/fs/cgroup/system.slice/docker-${containerId}.scope/${v2}`,
    `/sys/fs/cgroup/docker/${containerId}/${v2}`,
  ];
  for (const p of paths) if (fs.existsSync(p)) return fs.readFileSync(p, 'utf8').trim();
  throw new Error(`no cgroup file for ${containerId} among ${paths.join(', ')}`);
}
