/**
 * The client certificate checked locally, before any connection: key match, validity, EKU, KU,
 * the chain in the file, whether it reaches a CA the server named, and revocation when the
 * certificate names a CRL. The key is only parsed here (to compare with the certificate); it is
 * never printed, written or sent.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { certificateFacts, describeCertificate, parseCrl, pemToDerList, verifyCrlSignature } from '@anvil/pki';
import { type Check, fail, pass } from './checks.ts';
import { canonicalName, oneLine } from './names.ts';

export interface ClientMaterial {
  chain: X509Certificate[];
  checks: Check[];
}

const FULLCHAIN_FIX =
  'present the full chain: the leaf followed by its intermediate CA certificates (Anvil: fullchain.pem), not cert.pem alone';

/** Reads the PEM files; unreadable material is a failed check, not an exception. */
export function readClientMaterial(certPem: string, keyPem: string, now = new Date()): ClientMaterial {
  const checks: Check[] = [];
  let chain: X509Certificate[] = [];
  try {
    chain = pemToDerList(certPem, ['CERTIFICATE']).map((der) => new X509Certificate(der));
  } catch {
    chain = [];
  }
  if (chain.length === 0) {
    checks.push(
      fail(
        'client.read',
        'client',
        'the --cert file holds no PEM certificate',
        'pass the PEM certificate file (-----BEGIN CERTIFICATE-----)',
      ),
    );
    return { chain, checks };
  }
  const leaf = chain[0];
  const info = describeCertificate(new Uint8Array(leaf.raw));
  checks.push(
    pass('client.read', 'client', `certificate: ${oneLine(leaf.subject)}, issued by ${oneLine(leaf.issuer)} (${chain.length} in the file)`),
  );

  try {
    const key = createPrivateKey(keyPem);
    checks.push(
      leaf.checkPrivateKey(key)
        ? pass('client.key', 'client', 'the private key matches the certificate')
        : fail(
            'client.key',
            'client',
            'the private key does not match the certificate (they are from different key pairs)',
            'pass the key that was generated with this certificate, or the certificate issued for this key',
          ),
    );
  } catch {
    // The parser's message is left out on purpose: it must never echo key material.
    checks.push(
      fail(
        'client.key',
        'client',
        'the --key file is not a readable PEM private key (or it is encrypted)',
        'pass the unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)',
      ),
    );
  }

  const from = new Date(leaf.validFrom);
  const to = new Date(leaf.validTo);
  if (now < from)
    checks.push(
      fail(
        'client.validity',
        'client',
        `the certificate is not valid yet: valid from ${from.toISOString()}`,
        'wait, or fix the clock of whichever side is wrong',
      ),
    );
  else if (now > to)
    checks.push(
      fail('client.validity', 'client', `the certificate expired on ${to.toISOString()}`, 'renew it (anvil renew) or issue a new one'),
    );
  else checks.push(pass('client.validity', 'client', `valid until ${to.toISOString()}`));

  const eku = info.extendedKeyUsage;
  if (eku.length === 0) checks.push(pass('client.eku', 'client', 'no extended key usage: any purpose is allowed'));
  else if (eku.includes('clientAuth')) checks.push(pass('client.eku', 'client', `extended key usage has clientAuth (${eku.join(', ')})`));
  else
    checks.push(
      fail(
        'client.eku',
        'client',
        `wrong purpose: the extended key usage is ${eku.join(', ')}, without clientAuth, so servers refuse it as a client certificate`,
        'issue a client certificate (Anvil profile "client", EKU clientAuth); a server certificate cannot be used as one',
      ),
    );

  const ku = info.keyUsage;
  if (ku.length === 0 || ku.includes('digitalSignature'))
    checks.push(pass('client.ku', 'client', ku.length ? `key usage has digitalSignature` : 'no key usage extension'));
  else
    checks.push(
      fail(
        'client.ku',
        'client',
        `key usage is ${ku.join(', ')}, without digitalSignature: the key may not sign the handshake`,
        'issue a certificate with keyUsage digitalSignature (Anvil profile "client")',
      ),
    );

  checks.push(chainCheck(chain));
  return { chain, checks };
}

function chainCheck(chain: X509Certificate[]): Check {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey))
      return fail(
        'client.chain',
        'client',
        `the file is out of order: certificate ${i + 2} (${oneLine(chain[i + 1].subject)}) did not issue certificate ${i + 1}`,
        'order the file leaf first, then each issuer',
      );
  }
  const last = chain[chain.length - 1];
  if (chain.length === 1 && !selfIssued(last))
    return fail(
      'client.chain',
      'client',
      `chain incomplete: the file holds only the leaf, without the intermediate CA that issued it (${oneLine(last.issuer)})`,
      FULLCHAIN_FIX,
      'warning',
    );
  return pass('client.chain', 'client', `the chain in the file is in order (${chain.length} certificate${chain.length > 1 ? 's' : ''})`);
}

const selfIssued = (c: X509Certificate) => canonicalName(c.subject) === canonicalName(c.issuer);

/** Whether the chain in the file reaches one of the CA names the server listed. */
export function acceptableCaCheck(chain: X509Certificate[], caNames: string[]): Check {
  const accepted = new Set(caNames.map(canonicalName));
  const hit = chain.find((c) => accepted.has(canonicalName(c.issuer)) || accepted.has(canonicalName(c.subject)));
  if (hit) return pass('client.acceptable_ca', 'client', `the chain reaches a CA the server accepts (${oneLine(hit.issuer)})`);
  const leafOnly = chain.length === 1 && !selfIssued(chain[0]);
  const top = chain[chain.length - 1];
  return fail(
    'client.acceptable_ca',
    'client',
    `the certificate is not issued by any of the CAs the server accepts: the chain in the file ends at ${oneLine(top.issuer)}, and the server lists ${caNames.join('; ')}`,
    leafOnly
      ? `${FULLCHAIN_FIX}; if the intermediate is not from one of the listed CAs either, the certificate comes from the wrong CA`
      : "get a certificate from one of the CAs the server lists, or add your CA to the server's client CA file (nginx ssl_client_certificate, HAProxy ca-file)",
  );
}

/** Revocation from the CRL the certificate names (http only, as RFC 5280 wants), when there is one. */
export async function revocationCheck(chain: X509Certificate[], timeoutMs = 5000): Promise<Check | null> {
  const leaf = chain[0];
  if (!leaf) return null;
  let urls: string[];
  let serialHex: string;
  try {
    const facts = certificateFacts(new Uint8Array(leaf.raw));
    urls = facts.crlUrls.filter((u) => u.startsWith('http://'));
    serialHex = facts.serialHex.toLowerCase();
  } catch {
    return null;
  }
  if (urls.length === 0) return null;
  for (const url of urls) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) continue;
      const bytes = new Uint8Array(await res.arrayBuffer());
      const text = new TextDecoder().decode(bytes);
      const der = text.includes('-----BEGIN') ? pemToDerList(text, ['X509 CRL'])[0] : bytes;
      const crl = parseCrl(der);
      // A CRL is believed only when the issuer in the file signed it; without the issuer it is a hint, said so.
      const issuer = chain[1] && leaf.checkIssued(chain[1]) ? chain[1] : null;
      if (issuer && !verifyCrlSignature(der, certificateFacts(new Uint8Array(issuer.raw)).spki))
        return fail(
          'client.revocation',
          'client',
          `the CRL at ${url} is not signed by the certificate's issuer: revocation not checked`,
          undefined,
          'warning',
        );
      const unchecked = issuer ? '' : '; its signature unchecked: the issuer is not in the file';
      const entry = crl.entries.find((e) => normalSerial(e.serialHex) === normalSerial(serialHex));
      if (entry)
        return fail(
          'client.revocation',
          'client',
          `the certificate is revoked (CRL ${url}${entry.reason ? `, reason ${entry.reason}` : ''}${unchecked})`,
          'issue a new certificate: a revoked one cannot be un-revoked',
        );
      return pass('client.revocation', 'client', `not revoked according to ${url}${unchecked}`);
    } catch {
      // try the next distribution point
    }
  }
  return fail('client.revocation', 'client', `could not fetch the CRL (${urls.join(', ')}): revocation not checked`, undefined, 'warning');
}

const normalSerial = (hex: string) => hex.toLowerCase().replace(/^0+/, '');
