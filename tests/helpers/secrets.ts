/**
 * Secrets the test configurations and requests carry. Every bin/cpi run of every suite (at
 * debug log level) is checked for them: none may reach STDOUT (the response and its `log`) or
 * STDERR.
 */
const pem = (kind: string, body: string) => `-----BEGIN ${kind}-----\n${body}\n-----END ${kind}-----`;

export const SECRETS = {
  mbusPassword: 'mbus-secret-password-7f3a',
  blobstorePassword: 'blobstore-secret-password-91c2',
  tlsKey: pem('PRIVATE KEY', 'TLSKEYSECRETMATERIAL0b8d'),
  tlsCert: pem('CERTIFICATE', 'TLSCERTSECRETMATERIAL55e1'),
  agentCertKey: pem('RSA PRIVATE KEY', 'AGENTMBUSKEYSECRET2c4f'),
  agentCert: pem('CERTIFICATE', 'AGENTMBUSCERTSECRET9a0b'),
  vmPassword: '$6$secretsalt$secretVMpasswordHash',
  omnicloudApiKey: 'omni-api-key-secret-44d1',
} as const;

/** Markers that cannot appear by chance: the distinctive part of each secret. */
const MARKERS = ['mbus-secret-password-7f3a', 'blobstore-secret-password-91c2', 'TLSKEYSECRETMATERIAL0b8d', 'TLSCERTSECRETMATERIAL55e1', 'AGENTMBUSKEYSECRET2c4f', 'AGENTMBUSCERTSECRET9a0b', 'secretVMpasswordHash', 'omni-api-key-secret-44d1'];

export function leakedSecrets(text: string): string[] {
  return MARKERS.filter((m) => text.includes(m));
}

/** An env.bosh as the Director sends it, full of secrets. */
export function directorEnv(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    bosh: {
      mbus: { cert: { ca: SECRETS.agentCert, certificate: SECRETS.agentCert, private_key: SECRETS.agentCertKey } },
      password: SECRETS.vmPassword,
      blobstores: [{ provider: 'dav', options: { endpoint: 'http://10.0.0.6:25250', user: 'agent', password: SECRETS.blobstorePassword } }],
      ...extra,
    },
  };
}
