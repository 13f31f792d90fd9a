/**
 * TLS failures with a Docker engine, said so an operator can fix them: the engine's address, the
 * configuration key at fault (docker.tls.ca, docker.tls.certificate, docker.tls.private_key,
 * docker.host) and which side failed. OpenSSL's own text cannot tell a client certificate from
 * another CA from an expired one (dockerd answers both with alert 42, "bad certificate"), so when
 * the engine rejects ours the CPI inspects its own certificate; node:crypto is loaded for that
 * only here, on the error path.
 */
import type { X509Certificate } from 'node:crypto';
import type { DockerConfig } from '../../config/schema';
import { CloudError } from '../../rpc/errors';
import type { Endpoint } from './endpoint';

type Tls = NonNullable<DockerConfig['tls']>;

/** The engine's certificate chain does not lead to a CA in docker.tls.ca. */
const UNTRUSTED_SERVER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/** Alerts by which the engine says it refused the CPI's client certificate. */
const CLIENT_REJECTED = /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REQUIRED|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|DECRYPT_ERROR|ACCESS_DENIED)$/;

/** What a TLS client sees when the other end speaks plain HTTP (node says EPROTO, "wrong version number"). */
const PLAIN_PEER = /wrong version number|packet length too long|http request/i;

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

function crypto(): typeof import('node:crypto') {
  return require('node:crypto') as typeof import('node:crypto');
}

/** Distinguished names on one line, as operators read them in openssl output. */
function dn(name: string): string {
  return name.split('\n').join(', ');
}

function isoDate(text: string): string {
  const t = Date.parse(text);
  return Number.isFinite(t) ? new Date(t).toISOString() : text;
}

function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** Which key of docker.tls cannot be used as it is, checked locally; undefined when all parse and match. */
export function tlsMaterialProblem(tls: Tls): string | undefined {
  const c = crypto();
  let cert: X509Certificate;
  try {
    cert = new c.X509Certificate(tls.certificate);
  } catch {
    return 'docker.tls.certificate is not a PEM certificate';
  }
  let key: import('node:crypto').KeyObject;
  try {
    key = c.createPrivateKey(tls.private_key);
  } catch {
    return 'docker.tls.private_key is not an unencrypted PEM private key';
  }
  if (!cert.checkPrivateKey(key)) return `docker.tls.private_key does not belong to docker.tls.certificate (${dn(cert.subject)})`;
  const cas = pemBlocks(tls.ca);
  if (!cas.length) return 'docker.tls.ca holds no PEM certificate';
  for (const pem of cas) {
    try {
      new c.X509Certificate(pem);
    } catch {
      return 'docker.tls.ca holds a certificate that does not parse';
    }
  }
  return undefined;
}

/** Why the engine may have refused our client certificate, from the certificate itself. */
function clientCertProblem(tls: Tls): string {
  const material = tlsMaterialProblem(tls);
  if (material) return material;
  const c = crypto();
  const cert = new c.X509Certificate(tls.certificate);
  const now = Date.now();
  if (Date.parse(cert.validTo) < now) return `docker.tls.certificate (${dn(cert.subject)}) expired on ${isoDate(cert.validTo)}`;
  if (Date.parse(cert.validFrom) > now) return `docker.tls.certificate (${dn(cert.subject)}) is not valid before ${isoDate(cert.validFrom)}`;
  if (cert.keyUsage && !cert.keyUsage.includes(CLIENT_AUTH_OID)) {
    return `docker.tls.certificate (${dn(cert.subject)}) is not for client authentication: its extendedKeyUsage lacks clientAuth`;
  }
  const inOurCa = pemBlocks(tls.ca).some((pem) => {
    const ca = new c.X509Certificate(pem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  });
  const also = inOurCa ? 'that CA is in docker.tls.ca, so the engine was started with another one' : 'that CA is not in docker.tls.ca either';
  return `the engine does not trust the CA that issued docker.tls.certificate (${dn(cert.issuer)}); ${also}: use a client certificate from the CA of the engine's --tlscacert`;
}

function failed(where: Endpoint, why: string, cause: unknown): CloudError {
  return new CloudError(`TLS with the Docker engine at ${where.display} failed: ${why}`, { cause });
}

/**
 * A transport error of a TLS (or would-be TLS) exchange said precisely, or undefined when it is
 * not a TLS problem. `tls` is the configured docker.tls.
 */
export function tlsError(where: Endpoint, tls: Tls | null | undefined, err: NodeJS.ErrnoException & { reason?: string }): CloudError | undefined {
  if (where.kind !== 'tcp' || !where.tls || !tls) return undefined;
  const code = err.code ?? '';
  if (UNTRUSTED_SERVER.has(code)) {
    return failed(where, `the engine's certificate is not signed by a CA in docker.tls.ca (${err.message}): the CPI does not trust the engine`, err);
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return failed(where, `the engine's certificate ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'}: renew dockerd's --tlscert`, err);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return failed(where, `the engine's certificate is not for the address in docker.host (${err.reason ?? err.message})`, err);
  }
  if ((code === 'EPROTO' || /^ERR_SSL_/.test(code)) && PLAIN_PEER.test(err.message)) {
    return failed(where, 'it answered without TLS: it listens for plain HTTP there; remove docker.tls or point docker.host at the engine\'s TLS port', err);
  }
  if (CLIENT_REJECTED.test(code)) return failed(where, `the engine rejected the CPI's client certificate: ${clientCertProblem(tls)}`, err);
  if (/^ERR_OSSL_/.test(code) || /^ERR_TLS_|^ERR_SSL_/.test(code)) {
    const problem = tlsMaterialProblem(tls);
    if (problem) return failed(where, problem, err);
    return failed(where, err.message, err);
  }
  return undefined;
}

/** The engine's answer to plain HTTP on its TLS port (Go's net/http says so in a 400). */
export function plainHttpToTls(where: Endpoint, status: number, body: string): CloudError | undefined {
  if (where.kind !== 'tcp' || where.tls || status !== 400 || !/HTTP request to an HTTPS server/i.test(body)) return undefined;
  return new CloudError(
    `the Docker engine at ${where.display} speaks TLS, but the CPI sent plain HTTP: set docker.tls (ca, certificate, private_key) and use a tcp:// or https:// docker.host`,
  );
}
