/**
 * TLS failures against a real engine with mutual TLS (the manager of an EnginePair), each said
 * with the engine's address, the configuration key at fault and which side failed. Every case
 * is a has_vm whose cpi-config context carries the broken TLS setting, as a Director would send it.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { EnginePair } from '../helpers/engine-pair';
import { Lab, SUBNETS } from '../helpers/lab';
import { Pki, tlsConfig, type Pem } from '../helpers/pki';

const lab = new Lab('hosts-tls', SUBNETS.hostsTls, { docker: { host: 'unix:///run/bosh-cpi-test-no-engine-here.sock' } });
let pair: EnginePair;
let other: Pki;
const certs: Record<string, Pem> = {};
const servers: net.Server[] = [];

/** A TCP forwarder on 127.0.0.1 to `target` (a unix socket path, or host:port). */
async function forward(target: string | { host: string; port: number }): Promise<number> {
  const s = net.createServer((c) => {
    const u = typeof target === 'string' ? net.connect(target) : net.connect(target.port, target.host);
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  pair = await EnginePair.start({ octet: lab.octet, hide: path.dirname(lab.configFile) });
  other = new Pki(path.join(path.dirname(pair.pki.dir), 'other-pki'), 'other-ca');
  certs['otherCa'] = other.client('client-of-other-ca');
  certs['expired'] = pair.pki.client('expired-client', { start: '20200101000000Z', end: '20200102000000Z' });
  certs['serverOnly'] = pair.pki.issue('server-usage-only', ['extendedKeyUsage=serverAuth']);
}, 120_000);

afterAll(async () => {
  for (const s of servers) s.close();
  await pair?.destroy();
  await lab.finish();
}, 120_000);

/** has_vm against `host` with `tls`; returns the error, checking that no private key was printed. */
async function hasVm(host: string, tls: unknown): Promise<{ type: string; message: string; ok_to_retry: boolean } | null> {
  const r = await lab.call('has_vm', ['c-00000000-0000-4000-8000-000000000000'], { context: { director_uuid: 'tls-test', docker: { host, ...(tls ? { tls } : {}) } } });
  for (const pem of [pair.client, ...Object.values(certs)]) expect(r.stdout + r.stderr).not.toContain(pem.key.split('\n')[1] as string);
  return r.response.error;
}

function expectTlsError(e: Awaited<ReturnType<typeof hasVm>>, where: string, ...parts: string[]): void {
  expect(e?.type).toBe('Bosh::Clouds::CloudError');
  expect(e?.ok_to_retry).toBe(false);
  expect(e?.message).toContain(`TLS with the Docker engine at ${where} failed: `);
  for (const p of parts) expect(e?.message).toContain(p);
}

describe('mutual TLS that works', () => {
  it('answers (the control for every case below)', async () => {
    expect(await hasVm(pair.manager.tcpHost, pair.tls())).toBeNull();
  });
});

describe('the engine is not trusted (server side)', () => {
  it('its certificate is from a CA not in docker.tls.ca', async () => {
    const e = await hasVm(pair.manager.tcpHost, tlsConfig(other.ca, pair.client));
    expectTlsError(e, `${pair.manager.ip}:2376`, "the engine's certificate is not signed by a CA in docker.tls.ca", 'the CPI does not trust the engine');
  });

  it('its certificate is not for the address in docker.host', async () => {
    const port = await forward({ host: pair.manager.ip, port: 2376 });
    const e = await hasVm(`tcp://127.0.0.1:${port}`, pair.tls());
    expectTlsError(e, `127.0.0.1:${port}`, "the engine's certificate is not for the address in docker.host", `IP: 127.0.0.1 is not in the cert's list: ${pair.manager.ip}`);
  });
});

describe('the engine rejects the CPI (client side): the CPI checks its own certificate to say why', () => {
  it('a client certificate from another CA, not in docker.tls.ca', async () => {
    const e = await hasVm(pair.manager.tcpHost, tlsConfig(pair.pki.ca, certs['otherCa'] as Pem));
    expectTlsError(e, `${pair.manager.ip}:2376`, "the engine rejected the CPI's client certificate: the engine does not trust the CA that issued docker.tls.certificate (CN=bosh-cpi-test other-ca); that CA is not in docker.tls.ca either");
    expect(e?.message).not.toContain('expired');
  });

  it('a client certificate from a CA in docker.tls.ca that the engine was not started with', async () => {
    const bundle = { ...tlsConfig(pair.pki.ca, certs['otherCa'] as Pem), ca: pair.pki.ca.cert + other.ca.cert };
    const e = await hasVm(pair.manager.tcpHost, bundle);
    expectTlsError(e, `${pair.manager.ip}:2376`, 'that CA is in docker.tls.ca, so the engine was started with another one');
  });

  it('an expired client certificate from the right CA', async () => {
    const e = await hasVm(pair.manager.tcpHost, tlsConfig(pair.pki.ca, certs['expired'] as Pem));
    expectTlsError(e, `${pair.manager.ip}:2376`, "the engine rejected the CPI's client certificate: docker.tls.certificate (CN=bosh-cpi-test expired-client) expired on 2020-01-02T00:00:00.000Z");
    expect(e?.message).not.toContain('does not trust');
  });

  it('a certificate from the right CA that is not for client authentication', async () => {
    const e = await hasVm(pair.manager.tcpHost, tlsConfig(pair.pki.ca, certs['serverOnly'] as Pem));
    expectTlsError(e, `${pair.manager.ip}:2376`, 'docker.tls.certificate (CN=bosh-cpi-test server-usage-only) is not for client authentication: its extendedKeyUsage lacks clientAuth');
  });
});

describe('the configuration itself', () => {
  it('a private key that does not belong to the certificate, found before anything is sent', async () => {
    const e = await hasVm(pair.manager.tcpHost, { ...pair.tls(), private_key: (certs['otherCa'] as Pem).key });
    expectTlsError(e, `${pair.manager.ip}:2376`, 'docker.tls.private_key does not belong to docker.tls.certificate (CN=bosh-cpi-test cpi-client)');
  });

  it('plain HTTP against the TLS port', async () => {
    const e = await hasVm(pair.manager.tcpHost, undefined);
    expect(e?.type).toBe('Bosh::Clouds::CloudError');
    expect(e?.message).toBe(`the Docker engine at ${pair.manager.ip}:2376 speaks TLS, but the CPI sent plain HTTP: set docker.tls (ca, certificate, private_key) and use a tcp:// or https:// docker.host`);
  });

  it('TLS against a plain HTTP port', async () => {
    const port = await forward(pair.manager.socket);
    expect(await hasVm(`tcp://127.0.0.1:${port}`, undefined)).toBeNull(); // the port really is the engine, in plain HTTP
    const e = await hasVm(`tcp://127.0.0.1:${port}`, pair.tls());
    expectTlsError(e, `127.0.0.1:${port}`, 'it answered without TLS: it listens for plain HTTP there; remove docker.tls or point docker.host at the engine\'s TLS port');
  });
});
