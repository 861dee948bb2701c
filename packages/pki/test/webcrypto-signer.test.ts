/**
 * The WebCrypto adapter over two providers, Node's own and @peculiar/webcrypto (the PKCS#11 one is
 * test/interop/pkcs11.test.ts): each signs a self-signed CA certificate that `openssl verify
 * -x509_strict` accepts, and the adapter's ECDSA encoding (r||s -> DER) is checked against vectors.
 */
import { Crypto as PeculiarCrypto } from '@peculiar/webcrypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildName,
  ecdsaRawToDer,
  encodeTbsCertificate,
  keyIdentifier,
  serialFromRandom,
  signTbs,
  toPem,
  WebCryptoSigner,
  type KeyAlgorithm,
  type WebCryptoProvider,
} from '../src/index.ts';
import { haveTool, run, tempDir } from '../../../test/support/tools.ts';

const PROVIDERS: [string, WebCryptoProvider][] = [
  ['node webcrypto', globalThis.crypto as unknown as WebCryptoProvider],
  ['@peculiar/webcrypto', new PeculiarCrypto() as unknown as WebCryptoProvider],
];
const ALGORITHMS: KeyAlgorithm[] = ['EC-P256', 'EC-P384', 'RSA-2048', 'Ed25519'];

describe('ecdsaRawToDer', () => {
  it.each([
    // r and s without the top bit: plain INTEGERs
    ['0102', '3006020101020102'],
    // top bit set: a leading 0x00 keeps them positive
    ['80ff', '300802020080020200ff'],
    // leading zeros are dropped (DER-minimal), but zero stays one octet
    ['00010000', '3006020101020100'],
  ])('%s -> %s', (raw, der) => {
    expect(Buffer.from(ecdsaRawToDer(Buffer.from(raw, 'hex'))).toString('hex')).toBe(der);
  });

  it('refuses an odd length', () => {
    expect(() => ecdsaRawToDer(Uint8Array.of(1, 2, 3))).toThrow(/not r\|\|s/);
  });
});

const openssl = haveTool('openssl');

describe.runIf(openssl).each(PROVIDERS)('WebCryptoSigner over %s', (_name, provider) => {
  it.each(ALGORITHMS)('%s: a self-signed CA certificate that openssl verifies', async (alg) => {
    const signer = await WebCryptoSigner.generate(provider, alg);
    const subject = { CN: `WebCrypto ${alg}`, O: 'Anvil test' };
    const now = Date.now();
    const tbs = encodeTbsCertificate(
      {
        serial: serialFromRandom(crypto.getRandomValues(new Uint8Array(16))),
        subject,
        issuerName: buildName(subject),
        issuerKeyId: keyIdentifier(signer.publicKeySpki),
        subjectPublicKeySpki: signer.publicKeySpki,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
        keyUsage: ['keyCertSign', 'cRLSign'],
        basicConstraints: { ca: true },
      },
      signer.signatureAlgorithm,
    );
    const der = await signTbs(tbs, signer);
    const dir = tempDir('anvil-webcrypto-');
    const path = join(dir, 'ca.pem');
    writeFileSync(path, toPem(der, 'CERTIFICATE'));
    const r = run('openssl', ['verify', '-x509_strict', '-check_ss_sig', '-CAfile', path, path]);
    expect(r.out).toContain(`${path}: OK`);
    // A tampered signature must fail, or the check above proves nothing.
    const bad = Uint8Array.from(der);
    bad[bad.length - 5] ^= 0x01;
    const badPath = join(dir, 'bad.pem');
    writeFileSync(badPath, toPem(bad, 'CERTIFICATE'));
    expect(run('openssl', ['verify', '-x509_strict', '-check_ss_sig', '-CAfile', badPath, badPath]).status).not.toBe(0);
  });
});
