/**
 * Fuzzing `anvil crl FILE|URL` (issue 8, item 7): the CLI reads CRLs and issuer certificates
 * from files and URLs it does not control. Whatever the bytes, parseCrl returns or throws
 * CliError (printed as "error: ..."), never a pkijs or asn1js error. Seeds are engine-made and
 * Ed25519-signed with a fixed key, so runs are deterministic.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCrl, buildName, encodeName, encodeTbsCertificate, signTbs, SoftwareSigner, toPem } from '@anvil/pki';
import { fuzzParams, mutatedOf, ownErrorsOnly, randomDerTree, resignedMutationsOf } from '../../../test/support/fuzz.ts';
import { parseCrl } from '../src/crl.ts';
import { CliError } from '../src/errors.ts';

const signer = new SoftwareSigner(
  'Ed25519',
  Uint8Array.from([...Buffer.from('302e020100300506032b657004220420', 'hex'), ...new Array(32).fill(0x61)]),
);
const at = new Date('2030-01-01T00:00:00Z');

const crlWith = (issuerNameDer: Uint8Array) =>
  buildCrl({
    issuerNameDer,
    authorityKeyId: Uint8Array.of(9, 9, 9),
    signer,
    crlNumber: 7n,
    thisUpdate: at,
    nextUpdate: new Date('2030-01-08T00:00:00Z'),
    entries: [
      { serialHex: '0102', revokedAt: at, reason: 'keyCompromise' },
      { serialHex: '7f', revokedAt: at, reason: 'unspecified' },
    ],
  });

let crl: Uint8Array;
let issuerCert: Uint8Array;

beforeAll(async () => {
  crl = await crlWith(encodeName({ CN: 'Fuzz CA', O: 'Fuzz' }));
  issuerCert = await signTbs(
    encodeTbsCertificate(
      {
        serial: Uint8Array.of(1),
        subject: { CN: 'Fuzz CA', O: 'Fuzz' },
        issuerName: buildName({ CN: 'Fuzz CA', O: 'Fuzz' }),
        issuerKeyId: Uint8Array.of(9, 9, 9),
        subjectPublicKeySpki: signer.publicKeySpki,
        notBefore: new Date('2025-01-01T00:00:00Z'),
        notAfter: new Date('2035-01-01T00:00:00Z'),
        keyUsage: ['keyCertSign', 'cRLSign'],
        basicConstraints: { ca: true },
      },
      signer.signatureAlgorithm,
    ),
    signer,
  );
});

describe('fuzz: anvil crl throws only CliError', () => {
  it('CRL bytes (DER or PEM) and issuer certificates', () => {
    const latin1 = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
    const crlBytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      randomDerTree,
      { arbitrary: mutatedOf([crl, latin1(toPem(crl, 'X509 CRL'))]), weight: 3 },
      { arbitrary: resignedMutationsOf([{ der: crl, sign: (tbs) => signer.signSync(tbs) }]), weight: 3 },
    );
    const issuer = fc.oneof(fc.constant(undefined), fc.constant(issuerCert), mutatedOf([issuerCert]));
    fc.assert(
      fc.property(crlBytes, issuer, (bytes, cert) => {
        ownErrorsOnly('parseCrl (cli)', [CliError], () => parseCrl(bytes, cert));
      }),
      fuzzParams('cli-crl', 800),
    );
  });

  it('the seed CRL reads, and its signature checks', () => {
    const info = parseCrl(crl, issuerCert);
    expect(info.issuer).toContain('Fuzz CA');
    expect(info.signatureValid).toBe(true);
  });
});

/** The smallest inputs fuzzing found, as fixed vectors: issuers the strict CRL parser accepts but pkijs does not. */
describe('fuzz regressions', () => {
  it('an issuer SEQUENCE that is not a Name is a CliError, not a pkijs schema error', async () => {
    // SEQUENCE { SET { SEQUENCE { UTF8String "x", UTF8String "x" } } }: no attribute type OID
    const bytes = await crlWith(Uint8Array.of(0x30, 0x0a, 0x31, 0x08, 0x30, 0x06, 0x0c, 0x01, 0x78, 0x0c, 0x01, 0x78));
    expect(() => parseCrl(bytes)).toThrow(CliError);
    expect(() => parseCrl(bytes)).toThrow('that is not a CRL Anvil can read: its issuer is not an X.509 Name');
  });

  it('an attribute value asn1js cannot convert (GeneralizedTime "a") is a CliError', async () => {
    const bytes = await crlWith(Uint8Array.of(0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x18, 0x01, 0x61));
    expect(() => parseCrl(bytes)).toThrow('that is not a CRL Anvil can read: its issuer is not an X.509 Name');
  });
});
