/** The engine client against the real local engine: version negotiation, pinning, failures. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, EngineError, negotiateVersion } from '../../src/docker/engine/client';
import { createLogSession } from '../../src/log/logger';
import { FakeEngine } from '../helpers/fake-engine';
import { buildStemcell } from '../helpers/stemcell';
import { cleanupLabelled, docker, requireDocker, TEST_LABEL, testRunId } from '../helpers/docker';

const logs = createLogSession();
logs.setLevel('silent');
const BOUNDS = { connect_timeout_seconds: 2, request_timeout_seconds: 10, idle_timeout_seconds: 10, image_timeout_seconds: 60, helper_timeout_seconds: 30 };
const docker_ = (host: string, api_version?: string) => new EngineClient({ host, api_version, tls: null, ...BOUNDS }, logs.logger);

const RUN = testRunId('engine');

beforeAll(() => requireDocker());
afterAll(async () => {
  expect(await cleanupLabelled(RUN)).toEqual({ containers: [], volumes: [], networks: [], images: [] });
});

describe('Engine API version', () => {
  it('negotiates: the engine\'s own version up to the newest the CPI knows, never below the engine minimum', () => {
    expect(negotiateVersion('1.41', '1.12')).toBe('1.41'); // Docker 20.10 (Debian)
    expect(negotiateVersion('1.52', '1.44')).toBe('1.47'); // Docker 29
    expect(negotiateVersion('1.60', '1.50')).toBe('1.50'); // a future engine that dropped 1.47
  });

  it('speaks API 1.41 without a round trip to negotiate, to the local engine (Docker 20.10) as to any that accepts it', async () => {
    const c = docker_('unix:///var/run/docker.sock');
    expect(c.apiVersion).toBe('1.41');
    const info = await c.request<{ ID: string }>('GET', '/info');
    expect(typeof info.ID).toBe('string');
    expect(c.apiVersion).toBe('1.41');
  });

  it('negotiates with an engine that refuses 1.41 (Docker 29) from its ping and repeats the request', async () => {
    const fake = new FakeEngine('modern');
    await fake.listen();
    try {
      const c = docker_(fake.host);
      expect(await c.request('GET', '/containers/json')).toEqual([expect.objectContaining({ Id: '0123456789abcdef' })]);
      expect(c.apiVersion).toBe('1.47');
      expect(fake.seen).toEqual(['GET /v1.41/containers/json', 'GET /v1.47/containers/json']);
    } finally {
      await fake.close();
    }
  });

  it('uses a pinned version without asking', async () => {
    const c = docker_('unix:///var/run/docker.sock', '1.41');
    expect(c.apiVersion).toBe('1.41');
    await expect(c.request('GET', '/containers/json')).resolves.toBeInstanceOf(Array);
  });

  it('reports engine errors with the status and the engine\'s message', async () => {
    const c = docker_('unix:///var/run/docker.sock');
    const e = await c.request('GET', '/containers/no-such-container-xyz/json').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).statusCode).toBe(404);
    expect((e as EngineError).engineMessage).toMatch(/No such container/i);
  });

  it('reports an unreachable engine as a retryable CloudError naming it', async () => {
    const e = (await docker_('unix:///nonexistent/docker.sock').request('GET', '/_ping').catch((x: unknown) => x)) as { boshType: string; message: string; okToRetry: boolean };
    expect(e.boshType).toBe('Bosh::Clouds::CloudError');
    expect(e.message).toBe('the Docker engine at unix:///nonexistent/docker.sock is not reachable: no socket at /nonexistent/docker.sock (ENOENT); is dockerd running?');
    expect(e.okToRetry).toBe(true);
    const tcp = (await docker_('tcp://127.0.0.1:1').request('GET', '/_ping').catch((x: unknown) => x)) as { message: string; okToRetry: boolean };
    expect(tcp.message).toContain('the Docker engine at 127.0.0.1:1 is not reachable: connection refused (ECONNREFUSED)');
    expect(tcp.okToRetry).toBe(true);
  });
});

describe('busybox test stemcell', () => {
  it('builds a stemcell tarball whose image the engine can import and run', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-'));
    const sc = await buildStemcell({ init: 'runit' }, parent);
    const tarList = execFileSync('tar', ['-tzf', sc.tarball], { encoding: 'utf8' });
    expect(tarList.split('\n').filter(Boolean).sort()).toEqual(['image', 'stemcell.MF']);
    expect(fs.readFileSync(path.join(sc.dir, 'image')).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const tag = `bosh-test-stemcell:${RUN}`;
    await docker('import', '--change', `LABEL ${TEST_LABEL}=${RUN}`, sc.imagePath, tag);
    const out = await docker('run', '--rm', '--label', `${TEST_LABEL}=${RUN}`, tag, '/bin/sh', '-c', 'ls /usr/sbin/runsvdir-start && echo hello');
    expect(out).toBe('/usr/sbin/runsvdir-start\nhello');
    await docker('rmi', tag);
  });
});
