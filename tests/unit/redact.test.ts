import { redact, redactRequest, redactString, REDACTED } from '../../src/log/redact';

describe('redaction', () => {
  it('hides passwords in URLs, keeping the rest readable', () => {
    expect(redactString('https://mbus:s3cr3t@0.0.0.0:6868')).toBe(`https://mbus:${REDACTED}@0.0.0.0:6868`);
    expect(redactString('nats://nats:p/a%40ss@10.0.0.6:4222 and more')).toBe(`nats://nats:${REDACTED}@10.0.0.6:4222 and more`);
  });

  it('hides PEM blocks wherever they appear', () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----';
    expect(redactString(`key: ${pem} end`)).toBe(`key: ${REDACTED} end`);
  });

  it('hides values of secret-looking keys at any depth', () => {
    const env = {
      bosh: {
        password: 'crypt',
        mbus: { cert: { ca: 'CA', certificate: 'C', private_key: 'K' }, urls: ['nats://a:b@h:1'] },
        blobstores: [{ provider: 'dav', options: { user: 'agent', password: 'pw', secret_access_key: 'sak', json_key: 'jk' } }],
        group: 'g',
      },
    };
    const out = JSON.stringify(redact(env));
    for (const secret of ['crypt', '"CA"', '"C"', '"K"', ':b@', '"pw"', 'sak', '"jk"']) expect(out).not.toContain(secret);
    expect(out).toContain('"group":"g"');
    expect(out).toContain('"user":"agent"');
  });

  it('hides every cpi-config property of the context but keeps the Director keys', () => {
    const r = redactRequest({
      method: 'info',
      arguments: [],
      context: { director_uuid: 'd', request_id: 'cpi-1', vm: { stemcell: { api_version: 2 } }, host: 'tcp://x', tls: { ca: 'x' } },
    }) as { context: Record<string, unknown> };
    expect(r.context).toEqual({ director_uuid: 'd', request_id: 'cpi-1', vm: { stemcell: { api_version: 2 } }, host: REDACTED, tls: REDACTED });
  });
});
