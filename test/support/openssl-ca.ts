/** A real external CA for import tests: an `openssl ca` directory (index.txt, serial, a config) whose root signs what Anvil hands it. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface OpensslCa {
  dir: string;
  rootPem: string;
  rootKeyPath: string;
  rootPath: string;
  /** Signs a CSR with `openssl ca -extensions <section>`; returns the certificate PEM. */
  sign(csrPem: string, options?: { extensions?: string; startDate?: string; endDate?: string; days?: number }): string;
  /**
   * Certifies `publicKeyPath` (PEM) under the CSR's subject with `openssl x509 -req -force_pubkey`:
   * a certificate for a key whose private half cannot sign a CSR here (it is on a token).
   */
  certifyKey(csrPem: string, publicKeyPath: string, options?: { extensions?: string; serial?: string }): string;
}

const CONFIG = (dir: string) => `
[ ca ]
default_ca = CA_default

[ CA_default ]
dir               = ${dir}
database          = $dir/index.txt
serial            = $dir/serial
new_certs_dir     = $dir/newcerts
certificate       = $dir/root.pem
private_key       = $dir/root.key
default_md        = sha256
default_days      = 365
policy            = policy_loose
unique_subject    = no
copy_extensions   = none
email_in_dn       = no

[ policy_loose ]
commonName             = supplied
organizationName       = optional
countryName            = optional

[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = External Root

[ v3_root ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ v3_intermediate_ca ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_ca_no_crlsign ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_leaf ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A fresh openssl CA under `dir`, its root made by `openssl req -x509` (subject `/CN=<cn>/O=External`). */
export function createOpensslCa(dir: string, cn = 'External Root'): OpensslCa {
  mkdirSync(join(dir, 'newcerts'), { recursive: true });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  const config = join(dir, 'openssl.cnf');
  writeFileSync(config, CONFIG(dir));
  const rootKeyPath = join(dir, 'root.key');
  const rootPath = join(dir, 'root.pem');
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'root.ec'));
  openssl('pkcs8', '-topk8', '-nocrypt', '-in', join(dir, 'root.ec'), '-out', rootKeyPath);
  openssl(
    'req',
    '-config',
    config,
    '-x509',
    '-new',
    '-key',
    rootKeyPath,
    '-subj',
    `/CN=${cn}/O=External`,
    '-days',
    '3650',
    '-extensions',
    'v3_root',
    '-out',
    rootPath,
  );
  let n = 0;
  return {
    dir,
    rootPem: readFileSync(rootPath, 'utf8'),
    rootKeyPath,
    rootPath,
    sign(csrPem, options = {}) {
      const csr = join(dir, `req-${n}.csr`);
      const out = join(dir, `cert-${n++}.pem`);
      writeFileSync(csr, csrPem);
      const dates = options.startDate
        ? ['-startdate', options.startDate, '-enddate', options.endDate!]
        : ['-days', String(options.days ?? 365)];
      openssl(
        'ca',
        '-batch',
        '-config',
        config,
        '-notext',
        '-extensions',
        options.extensions ?? 'v3_intermediate_ca',
        ...dates,
        '-in',
        csr,
        '-out',
        out,
      );
      return readFileSync(out, 'utf8');
    },
    certifyKey(csrPem, publicKeyPath, options = {}) {
      const csr = join(dir, `req-${n}.csr`);
      const out = join(dir, `cert-${n++}.pem`);
      writeFileSync(csr, csrPem);
      openssl(
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        rootPath,
        '-CAkey',
        rootKeyPath,
        '-set_serial',
        options.serial ?? String(7000 + n),
        '-force_pubkey',
        publicKeyPath,
        '-extfile',
        config,
        '-extensions',
        options.extensions ?? 'v3_intermediate_ca',
        '-days',
        '365',
        '-out',
        out,
      );
      return readFileSync(out, 'utf8');
    },
  };
}

/** A P-256 key (PKCS#8 PEM) and a CSR for it, made by openssl. */
export function keyAndCsr(dir: string, name: string, subject: string): { keyPem: string; csrPem: string; keyPath: string } {
  const keyPath = join(dir, `${name}.key`);
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath);
  const csrPem = openssl('req', '-new', '-key', keyPath, '-subj', subject);
  return { keyPem: readFileSync(keyPath, 'utf8'), csrPem, keyPath };
}
