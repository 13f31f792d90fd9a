/**
 * Certificates for engines with mutual TLS, made with openssl at test time (EC P-256: fast):
 * a CA, a server certificate per engine (its IP as subjectAltName) and a client certificate for
 * the CPI. `issue` makes more (another CA's, expired, without clientAuth) for the TLS error cases.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

function read(dir: string, name: string): Pem {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export class Pki {
  readonly ca: Pem;
  private serial = 0x1000;

  /** A new CA in `dir` (created), valid for two days. */
  constructor(
    readonly dir: string,
    readonly caName = 'ca',
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    openssl(dir, ['req', '-x509', ...EC, '-keyout', `${caName}.key`, '-out', `${caName}.pem`, '-days', '2', '-subj', `/CN=bosh-cpi-test ${caName}`]);
    this.ca = read(dir, caName);
  }

  /**
   * A certificate signed by this CA. `validity` gives explicit dates (YYYYMMDDHHMMSSZ), e.g. an
   * expired one; `ext` the X.509v3 extensions (config-file lines).
   */
  issue(name: string, ext: string[], validity?: { start: string; end: string }): Pem {
    const dir = this.dir;
    openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=bosh-cpi-test ${name}`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `[x]\n${ext.join('\n')}\n`);
    if (validity) {
      // Only `openssl ca` sets arbitrary dates in OpenSSL 3.0; a throw-away database per certificate.
      const db = path.join(dir, `${name}.db`);
      fs.writeFileSync(db, '');
      fs.writeFileSync(path.join(dir, `${name}.serial`), (this.serial++).toString(16));
      const cnf = `[ca]\ndefault_ca=c\n[c]\ndatabase=${db}\nserial=${path.join(dir, `${name}.serial`)}\nnew_certs_dir=${dir}\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n`;
      fs.writeFileSync(path.join(dir, `${name}.cnf`), cnf);
      openssl(dir, ['ca', '-batch', '-notext', '-config', `${name}.cnf`, '-cert', `${this.caName}.pem`, '-keyfile', `${this.caName}.key`, '-in', `${name}.csr`, '-out', `${name}.pem`, '-startdate', validity.start, '-enddate', validity.end, '-extfile', `${name}.ext`, '-extensions', 'x']);
    } else {
      openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${this.caName}.pem`, '-CAkey', `${this.caName}.key`, '-set_serial', String(this.serial++), '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`, '-extensions', 'x']);
    }
    return read(dir, name);
  }

  server(name: string, ip: string): Pem {
    return this.issue(name, [`subjectAltName=IP:${ip}`, 'extendedKeyUsage=serverAuth']);
  }

  client(name: string, validity?: { start: string; end: string }): Pem {
    return this.issue(name, ['extendedKeyUsage=clientAuth'], validity);
  }
}

/** The CPI's `docker.tls` from a CA and a client certificate. */
export function tlsConfig(ca: Pem, client: Pem): { ca: string; certificate: string; private_key: string } {
  return { ca: ca.cert, certificate: client.cert, private_key: client.key };
}
