/**
 * Keys made here, never on the server: the CLI generates the key pair on the partner's machine
 * and sends only a PKCS#10 request (built by the engine, @anvil/pki) as proof of possession.
 */
import { isIP } from 'node:net';
import {
  buildCsr as buildCsrDer,
  emptySans,
  generateKey,
  KEY_ALGORITHMS,
  privateKeyPem,
  toPem,
  type KeyAlgorithm,
  type Sans,
} from '@anvil/pki';
import { CliError } from './errors.ts';

export { KEY_ALGORITHMS, type KeyAlgorithm, type Sans };

/** `dns:a.example`, `uri:spiffe://…`, `ip:10.0.0.1`, `email:a@b`; a bare value is an IP if it parses as one, else DNS. */
export function parseSans(values: string[]): Sans {
  const sans = emptySans();
  for (const raw of values) {
    const m = /^(dns|ip|uri|email):(.*)$/i.exec(raw);
    const [kind, value] = m ? [m[1].toLowerCase() as keyof Sans, m[2]] : ([isIP(raw) ? 'ip' : 'dns', raw] as const);
    if (!value) throw new CliError(`--san ${raw}: the value is empty (write it as dns:NAME, ip:ADDRESS, uri:URI or email:ADDRESS)`);
    if (kind === 'ip' && !isIP(value)) throw new CliError(`--san ${raw}: "${value}" is not an IP address`);
    sans[kind as keyof Sans].push(value);
  }
  return sans;
}

/** A fresh key and a CSR for it: the key as PKCS#8 PEM (for key.pem) and the CSR as PEM. */
export async function keyAndCsr(params: {
  keyAlgorithm: KeyAlgorithm;
  commonName?: string;
  sans: Sans;
}): Promise<{ keyPem: string; csrPem: string }> {
  const key = await generateKey(params.keyAlgorithm);
  const csr = buildCsrDer({
    keyAlgorithm: params.keyAlgorithm,
    privateKeyPkcs8: key.pkcs8Der,
    subject: params.commonName ? { CN: params.commonName } : {},
    sans: params.sans,
  });
  return { keyPem: privateKeyPem(key.pkcs8Der), csrPem: toPem(csr, 'CERTIFICATE REQUEST') };
}
