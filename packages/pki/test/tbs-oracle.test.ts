/** The direct DER encoder and lintTbs against the pkijs test oracle (test/oracle/pkijs-tbs.ts), for every key type. */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  algorithmIdentifierDer,
  buildName,
  encodeTbsCertificate,
  generateKey,
  keyIdentifier,
  lintTbs,
  SoftwareSigner,
  type CertificateParams,
  type CertificateRole,
  type GeneratedKey,
  type KeyAlgorithm,
} from '../src/index.ts';
import { buildTbsCertificate, encodeTbs, lintCertificate, parseTbs } from './oracle/pkijs-tbs.ts';

const ALGORITHMS: KeyAlgorithm[] = ['EC-P256', 'EC-P384', 'Ed25519', 'RSA-2048'];
const issuerNotAfter = new Date(Date.now() + 30 * 86_400_000);

describe('pkijs oracle', () => {
  let keys: GeneratedKey[];
  let signers: SoftwareSigner[];

  beforeAll(async () => {
    keys = await Promise.all(ALGORITHMS.map((a) => generateKey(a)));
    signers = keys.map((k) => new SoftwareSigner(k.algorithm, k.pkcs8Der));
  });

  const base = (signer: SoftwareSigner, spki: Uint8Array): CertificateParams => ({
    serial: Uint8Array.of(0x01, 0x23, 0x45),
    subject: { CN: 'a.example.com', O: 'Oracle', C: 'DE' },
    issuerName: buildName({ CN: 'Oracle CA', O: 'Oracle' }),
    issuerKeyId: keyIdentifier(signer.publicKeySpki),
    subjectPublicKeySpki: spki,
    notBefore: new Date(Date.now() - 60_123),
    notAfter: new Date(Date.now() + 86_400_456),
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: ['serverAuth', 'clientAuth'],
    basicConstraints: { ca: false },
    sans: { dns: ['a.example.com'], ip: ['10.0.0.1', '::1'], uri: ['spiffe://prod.example/a'], email: ['x@example.com'] },
    crlUrl: 'http://127.0.0.1:8080/pki/crl/ca.crl',
    ocspUrl: 'http://127.0.0.1:8080/ocsp',
    caIssuersUrl: 'http://127.0.0.1:8080/pki/issuers/ca.crt',
  });
  const variants: Array<[string, (p: CertificateParams) => CertificateParams]> = [
    ['leaf', (p) => p],
    ['empty subject (critical SAN)', (p) => ({ ...p, subject: {} })],
    ['notAfter in 2051 (GeneralizedTime)', (p) => ({ ...p, notAfter: new Date(Date.UTC(2051, 0, 1, 0, 0, 0, 999)) })],
    [
      'intermediate CA',
      (p) => ({
        ...p,
        basicConstraints: { ca: true, pathLen: 0 },
        keyUsage: ['keyCertSign', 'cRLSign'],
        extKeyUsage: undefined,
        sans: undefined,
      }),
    ],
    ['OCSP signer', (p) => ({ ...p, ocspNoCheck: true, extKeyUsage: ['ocspSigning'], sans: undefined, ocspUrl: undefined })],
    ['non-minimal serial', (p) => ({ ...p, serial: Uint8Array.of(0, 1) })],
    ['CN not among the SANs', (p) => ({ ...p, subject: { CN: 'other.example.com' } })],
  ];

  it('encodeTbsCertificate writes the bytes the pkijs reference encoder writes', () => {
    for (const signer of signers) {
      for (const key of keys) {
        for (const [name, variant] of variants) {
          const params = variant(base(signer, key.spkiDer));
          const reference = encodeTbs(buildTbsCertificate(params), signer);
          const direct = encodeTbsCertificate(params, signer.signatureAlgorithm);
          expect(Buffer.from(direct).equals(Buffer.from(reference)), `${signer.keyAlgorithm} / ${key.algorithm} / ${name}`).toBe(true);
        }
      }
    }
  });

  it('lintTbs finds what the same rules find on a pkijs parse', () => {
    const signer = signers[0];
    const sigAlg = algorithmIdentifierDer(signer.signatureAlgorithm);
    const roles: CertificateRole[] = ['server', 'client', 'peer', 'ocsp', 'intermediate', 'root'];
    for (const role of roles) {
      for (const [name, variant] of variants) {
        const tbs = encodeTbsCertificate(variant(base(signer, keys[0].spkiDer)), signer.signatureAlgorithm);
        expect(lintTbs(tbs, { role, issuerNotAfter }), `${role} / ${name}`).toEqual(
          lintCertificate(parseTbs(tbs, sigAlg), { role, issuerNotAfter }),
        );
      }
    }
  });
});
