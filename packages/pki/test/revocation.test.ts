/**
 * Revocation encoders (CRL, OCSP) and the shared time encoding, checked by a verifier we did not
 * write: the openssl CLI (OpenSSL 3). All certificates and OCSP requests are made by openssl, so
 * nothing here trusts our own X.509 code to produce its inputs.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyAlgorithm } from '../src/keys.ts';
import { toPem } from '../src/pem.ts';
import {
  buildCrl,
  CrlBuildError,
  packRevokedEntries,
  type PackedRevokedEntries,
  type RevokedEntry,
} from '../src/revocation/crl-builder.ts';
import { CrlParseError, parseCrl, verifyCrlSignature } from '../src/x509/crl-reader.ts';
import { ctx, readWhole, TAG, tlv } from '../src/der.ts';
import {
  buildOcspResponse,
  issuerHashes,
  OcspBuildError,
  ocspErrorResponse,
  OcspRequestError,
  parseOcspRequest,
  parseOcspResponse,
  verifyOcspResponseSignature,
  type OcspErrorStatus,
  type OcspSingleResponseParams,
} from '../src/revocation/ocsp.ts';
import { REVOCATION_REASON_CODES, revocationReasonName, type RevocationReason } from '../src/revocation/reasons.ts';
import { SoftwareSigner } from '../src/signer.ts';
import { decodeTimeDer, encodeGeneralizedTimeDer, encodeTimeDer, toAsn1Time } from '../src/time.ts';
import { CLIENT_LEAF_EXTENSIONS, opensslConfig, ROOT_CA_EXTENSIONS } from './support.ts';

let dir: string;

interface Run {
  status: number | null;
  out: string;
}

/** Runs openssl and returns both streams together: several verdicts ("verify OK") go to stderr. */
function openssl(...args: string[]): Run {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Runs openssl where failure means the test material itself is broken. */
function must(...args: string[]): string {
  const r = openssl(...args);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.out}`);
  return r.out;
}

const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
const write = (name: string, data: Uint8Array | string) => writeFileSync(join(dir, name), data);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

/** The parts of an openssl-made certificate the encoders need, read from its DER. */
interface CertFacts {
  der: Uint8Array;
  serialHex: string;
  subjectDer: Uint8Array;
  spkiDer: Uint8Array;
  subjectKeyId: Uint8Array;
}

function certFacts(pemFile: string): CertFacts {
  const der = new Uint8Array(Buffer.from(readFileSync(join(dir, pemFile), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  const { cursor: cert } = readWhole(der, TAG.SEQUENCE, 'Certificate');
  const tbs = cert.enter(cert.next(TAG.SEQUENCE, 'tbs'));
  tbs.optional(ctx(0));
  const serial = tbs.next(TAG.INTEGER, 'serial');
  tbs.next(TAG.SEQUENCE, 'signature');
  tbs.next(TAG.SEQUENCE, 'issuer');
  tbs.next(TAG.SEQUENCE, 'validity');
  const subject = tbs.next(TAG.SEQUENCE, 'subject');
  const spki = tbs.next(TAG.SEQUENCE, 'spki');
  let subjectKeyId = new Uint8Array(0);
  const extsWrapper = tbs.optional(ctx(3));
  if (extsWrapper) {
    const list = tbs.enter(tbs.enter(extsWrapper).next(TAG.SEQUENCE, 'extensions'));
    while (!list.done) {
      const ext = list.enter(list.next(TAG.SEQUENCE, 'extension'));
      const oid = hex(ext.content(ext.next(TAG.OID, 'oid')));
      ext.optional(TAG.BOOLEAN);
      const value = ext.next(TAG.OCTET_STRING, 'value');
      if (oid === '551d0e') {
        const v = ext.enter(value);
        subjectKeyId = v.content(v.next(TAG.OCTET_STRING, 'ski')).slice();
      }
    }
  }
  return {
    der,
    serialHex: hex(tbs.content(serial)),
    subjectDer: tbs.raw(subject).slice(),
    spkiDer: tbs.raw(spki).slice(),
    subjectKeyId,
  };
}

// --- test material -------------------------------------------------------------------------

const EXTENSIONS = opensslConfig({
  req: ['distinguished_name = dn'],
  dn: [],
  ca: ROOT_CA_EXTENSIONS,
  ocsp: [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = OCSPSigning',
    'noCheck = ignored',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ],
  leaf: CLIENT_LEAF_EXTENSIONS,
});

interface Pki {
  kind: 'EC' | 'RSA';
  prefix: string;
  keyAlgorithm: KeyAlgorithm;
  ca: CertFacts;
  caSigner: SoftwareSigner;
  ocsp: CertFacts;
  ocspSigner: SoftwareSigner;
  /** leaf1 and leaf2 get revoked; leaf3 stays good. leaf2's serial has its top bit set. */
  leaves: Record<'leaf1' | 'leaf2' | 'leaf3', CertFacts>;
}

const LEAF_SERIALS = { leaf1: '0x1001', leaf2: '0x80ab', leaf3: '0x1003' } as const;

function genKey(kind: 'EC' | 'RSA', file: string): void {
  if (kind === 'EC') must('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file);
  else must('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file);
}

function signerFor(keyFile: string, keyAlgorithm: KeyAlgorithm): SoftwareSigner {
  const p8 = `${keyFile}.p8.der`;
  must('pkcs8', '-topk8', '-nocrypt', '-in', keyFile, '-outform', 'DER', '-out', p8);
  return new SoftwareSigner(keyAlgorithm, read(p8));
}

function issue(prefix: string, name: string, section: string, serial: string, kind: 'EC' | 'RSA'): CertFacts {
  genKey(kind, `${prefix}${name}.key`);
  must(
    'req',
    '-new',
    '-config',
    'ext.cnf',
    '-key',
    `${prefix}${name}.key`,
    '-subj',
    `/CN=${prefix}${name}`,
    '-out',
    `${prefix}${name}.csr`,
  );
  must(
    'x509',
    '-req',
    '-in',
    `${prefix}${name}.csr`,
    '-CA',
    `${prefix}ca.pem`,
    '-CAkey',
    `${prefix}ca.key`,
    '-set_serial',
    serial,
    '-days',
    '30',
    '-extfile',
    'ext.cnf',
    '-extensions',
    section,
    '-out',
    `${prefix}${name}.pem`,
  );
  return certFacts(`${prefix}${name}.pem`);
}

function makePki(kind: 'EC' | 'RSA'): Pki {
  const prefix = kind === 'EC' ? 'ec-' : 'rsa-';
  const keyAlgorithm: KeyAlgorithm = kind === 'EC' ? 'EC-P256' : 'RSA-2048';
  genKey(kind, `${prefix}ca.key`);
  must(
    'req',
    '-x509',
    '-new',
    '-key',
    `${prefix}ca.key`,
    '-subj',
    `/CN=Anvil Test ${kind} Root/O=Anvil`,
    '-days',
    '3650',
    '-config',
    'ext.cnf',
    '-extensions',
    'ca',
    '-out',
    `${prefix}ca.pem`,
  );
  const ocsp = issue(prefix, 'ocsp', 'ocsp', '0x0c5b', kind);
  const leaves = {
    leaf1: issue(prefix, 'leaf1', 'leaf', LEAF_SERIALS.leaf1, kind),
    leaf2: issue(prefix, 'leaf2', 'leaf', LEAF_SERIALS.leaf2, kind),
    leaf3: issue(prefix, 'leaf3', 'leaf', LEAF_SERIALS.leaf3, kind),
  };
  return {
    kind,
    prefix,
    keyAlgorithm,
    ca: certFacts(`${prefix}ca.pem`),
    caSigner: signerFor(`${prefix}ca.key`, keyAlgorithm),
    ocsp,
    ocspSigner: signerFor(`${prefix}ocsp.key`, keyAlgorithm),
    leaves,
  };
}

const pkis: Record<'EC' | 'RSA', Pki> = {} as Record<'EC' | 'RSA', Pki>;

// --- openssl, on the files of one PKI (names without its prefix) ---------------------------

/** `openssl crl -verify` of the DER CRL `name` under `p`'s CA. */
const crlVerify = (p: Pki, name: string) =>
  openssl('crl', '-inform', 'DER', '-in', `${p.prefix}${name}`, '-CAfile', `${p.prefix}ca.pem`, '-noout', '-verify');

/** `openssl crl -text` of the DER CRL `name`. */
const crlText = (p: Pki, name: string) => must('crl', '-inform', 'DER', '-in', `${p.prefix}${name}`, '-noout', '-text');

/** `-cert` arguments naming certificates of `p` (`leaf1` for `${prefix}leaf1.pem`). */
const certArgs = (p: Pki, ...names: string[]) => names.flatMap((name) => ['-cert', `${p.prefix}${name}.pem`]);

/** Has openssl write an OCSP request to `reqout` about `p`'s CA's certificates; `args` name them (and a digest, -no_nonce...). */
const ocspRequest = (p: Pki, reqout: string, ...args: string[]) =>
  must('ocsp', '-issuer', `${p.prefix}ca.pem`, ...args, '-reqout', `${p.prefix}${reqout}`);

/**
 * Has openssl check the OCSP response `resp` (and its nonce against the request `reqin`, if given)
 * with `p`'s CA as issuer, trusting `trust` (the CA by default); `extra` goes last.
 */
function ocspVerify(p: Pki, resp: string, { reqin, trust, extra = [] }: { reqin?: string; trust?: string[]; extra?: string[] } = {}): Run {
  return openssl(
    'ocsp',
    '-respin',
    `${p.prefix}${resp}`,
    ...(reqin ? ['-reqin', `${p.prefix}${reqin}`] : []),
    '-issuer',
    `${p.prefix}ca.pem`,
    ...(trust ?? ['-CAfile', `${p.prefix}ca.pem`]),
    ...extra,
  );
}

/** buildCrl parameters for the EC CA with fixed dates (one week from 2026-06-01) and CRL number 1. */
const fixedCrlParams = (entries: RevokedEntry[]) => {
  const p = pkis.EC;
  return {
    issuerNameDer: p.ca.subjectDer,
    authorityKeyId: p.ca.subjectKeyId,
    signer: p.caSigner,
    crlNumber: 1n,
    thisUpdate: new Date('2026-06-01T00:00:00Z'),
    nextUpdate: new Date('2026-06-08T00:00:00Z'),
    entries,
  };
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'anvil-revocation-'));
  write('ext.cnf', EXTENSIONS);
  pkis.EC = makePki('EC');
  pkis.RSA = makePki('RSA');
});

afterAll(() => {
  if (dir && !process.env.KEEP_REVOCATION_DIR) rmSync(dir, { recursive: true, force: true });
});

// --- time ----------------------------------------------------------------------------------

describe('time encoding (RFC 5280 4.1.2.5)', () => {
  const cases: Array<[string, string, string]> = [
    // instant, expected DER hex, why
    ['2049-12-31T23:59:59.999Z', `170d${hex(Buffer.from('491231235959Z'))}`, 'last UTCTime second; fraction dropped'],
    ['2050-01-01T00:00:00.000Z', `180f${hex(Buffer.from('20500101000000Z'))}`, 'first GeneralizedTime year'],
    ['1950-01-01T00:00:00.000Z', `170d${hex(Buffer.from('500101000000Z'))}`, 'first UTCTime year'],
    ['1949-12-31T23:59:59.000Z', `180f${hex(Buffer.from('19491231235959Z'))}`, 'before 1950 needs GeneralizedTime'],
    ['2026-03-04T05:06:07.500Z', `170d${hex(Buffer.from('260304050607Z'))}`, 'ordinary UTCTime'],
  ];
  it.each(cases)('encodes %s as %s (%s)', (iso, expected) => {
    const der = encodeTimeDer(new Date(iso));
    expect(hex(der)).toBe(expected);
    expect(decodeTimeDer(der[0], der.subarray(2)).toISOString()).toBe(wholeSeconds(new Date(iso)).toISOString());
    // the pkijs object chooses the same way and encodes the same bytes
    expect(hex(new Uint8Array(toAsn1Time(new Date(iso)).toSchema().toBER()))).toBe(expected);
  });

  it('writes GeneralizedTime for OCSP whatever the year', () => {
    expect(hex(encodeGeneralizedTimeDer(new Date('2026-03-04T05:06:07.999Z')))).toBe(`180f${hex(Buffer.from('20260304050607Z'))}`);
  });

  it('rejects impossible or malformed times', () => {
    expect(() => decodeTimeDer(0x17, Buffer.from('260230000000Z'))).toThrow(/impossible/);
    expect(() => decodeTimeDer(0x17, Buffer.from('2603040506Z'))).toThrow(/malformed UTCTime/);
    expect(() => encodeTimeDer(new Date(Number.NaN))).toThrow(/invalid Date/);
  });
});

// --- CRL -----------------------------------------------------------------------------------

describe.each(['EC', 'RSA'] as const)('CRL signed by an %s CA', (kind) => {
  const pki = () => pkis[kind];
  const now = () => wholeSeconds(new Date());

  function entriesFor(p: Pki): RevokedEntry[] {
    const t = new Date('2026-01-02T03:04:05Z');
    return [
      { serialHex: p.leaves.leaf1.serialHex, revokedAt: t, reason: 'keyCompromise' },
      { serialHex: p.leaves.leaf2.serialHex, revokedAt: t, reason: 'unspecified' },
      { serialHex: '7f01', revokedAt: t, reason: 'superseded' },
      { serialHex: '7f02', revokedAt: t, reason: 'certificateHold' },
      { serialHex: '7f03', revokedAt: t, reason: 'cessationOfOperation' },
    ];
  }

  async function build(entries: RevokedEntry[] | AsyncIterable<RevokedEntry>, nextUpdate?: Date, crlNumber = 5n): Promise<Uint8Array> {
    const p = pki();
    return buildCrl({
      issuerNameDer: p.ca.subjectDer,
      authorityKeyId: p.ca.subjectKeyId,
      signer: p.caSigner,
      crlNumber,
      thisUpdate: new Date(now().getTime() - 60_000),
      nextUpdate: nextUpdate ?? new Date(now().getTime() + 86_400_000),
      entries,
    });
  }

  it('is accepted by openssl crl -verify and shows number, reasons and the unspecified entry without a reason', async () => {
    const p = pki();
    const crl = await build(entriesFor(p));
    write(`${p.prefix}full.crl`, crl);
    expect(crlVerify(p, 'full.crl').out).toContain('verify OK');

    const text = crlText(p, 'full.crl');
    expect(text).toContain('Version 2 (0x1)');
    expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*5\n/);
    expect(text).toMatch(/X509v3 Authority Key Identifier:\s*\n\s*[0-9A-F:]+/);
    expect(text).toContain(kind === 'EC' ? 'ecdsa-with-SHA256' : 'sha256WithRSAEncryption');
    const blocks = Object.fromEntries(
      text
        .split('Serial Number: ')
        .slice(1)
        .map((b) => [b.split('\n')[0].trim().toLowerCase(), b]),
    );
    // openssl prints the serial without the DER sign octet
    const shown = (serialHex: string) => serialHex.replace(/^00/, '');
    expect(blocks[shown(p.leaves.leaf1.serialHex)]).toContain('Key Compromise');
    expect(blocks[shown(p.leaves.leaf2.serialHex)]).not.toContain('CRL entry extensions');
    expect(blocks[shown(p.leaves.leaf2.serialHex)]).not.toContain('Reason');
    expect(blocks['7f01']).toContain('Superseded');
    expect(blocks['7f02']).toContain('Certificate Hold');
    expect(blocks['7f03']).toContain('Cessation Of Operation');
    expect(blocks[shown(p.leaves.leaf1.serialHex)]).toContain('Revocation Date: Jan  2 03:04:05 2026 GMT');
  });

  it('makes openssl verify -crl_check reject a listed leaf and accept an unlisted one', async () => {
    const p = pki();
    write(`${p.prefix}check.crl.pem`, toPem(await build(entriesFor(p)), 'X509 CRL'));
    const args = (leaf: string) => [
      'verify',
      '-crl_check',
      '-CRLfile',
      `${p.prefix}check.crl.pem`,
      '-CAfile',
      `${p.prefix}ca.pem`,
      `${p.prefix}${leaf}.pem`,
    ];
    const revoked = openssl(...args('leaf1'));
    expect(revoked.status).not.toBe(0);
    expect(revoked.out).toContain('certificate revoked');
    const revokedTopBit = openssl(...args('leaf2'));
    expect(revokedTopBit.out).toContain('certificate revoked');
    const good = openssl(...args('leaf3'));
    expect(good.out).toContain(`${p.prefix}leaf3.pem: OK`);
    expect(good.status).toBe(0);
  });

  it('omits revokedCertificates when empty ("No Revoked Certificates.")', async () => {
    const p = pki();
    const crl = await build([]);
    write(`${p.prefix}empty.crl`, crl);
    expect(crlVerify(p, 'empty.crl').out).toContain('verify OK');
    expect(crlText(p, 'empty.crl')).toContain('No Revoked Certificates.');
    expect(parseCrl(crl).entries).toEqual([]);
  });

  it('writes a 2050+ nextUpdate as GeneralizedTime and thisUpdate as UTCTime', async () => {
    const p = pki();
    const crl = await build(entriesFor(p), new Date('2050-01-01T00:00:00.750Z'));
    write(`${p.prefix}2050.crl`, crl);
    const asn1 = must('asn1parse', '-inform', 'DER', '-in', `${p.prefix}2050.crl`);
    expect(asn1).toMatch(/GENERALIZEDTIME\s*:20500101000000Z/);
    expect(asn1).toMatch(/UTCTIME\s*:\d{12}Z/);
    expect(crlText(p, '2050.crl')).toContain('Next Update: Jan  1 00:00:00 2050 GMT');
    expect(crlVerify(p, '2050.crl').out).toContain('verify OK');
    expect(parseCrl(crl).nextUpdate?.toISOString()).toBe('2050-01-01T00:00:00.000Z');
  });

  it('round-trips through parseCrl and verifies only under the issuer key', async () => {
    const p = pki();
    const entries = entriesFor(p);
    const crl = await build(entries, undefined, 2n ** 64n);
    const parsed = parseCrl(crl, { issuerSpkiDer: p.ca.spkiDer });
    expect(parsed.version).toBe(2);
    expect(parsed.number).toBe(2n ** 64n);
    expect(hex(parsed.issuerNameDer)).toBe(hex(p.ca.subjectDer));
    expect(hex(parsed.authorityKeyId!)).toBe(hex(p.ca.subjectKeyId));
    expect(parsed.unhandledCriticalExtensions).toEqual([]);
    expect(parsed.signatureValid).toBe(true);
    expect(parsed.entries).toEqual(entries.map((e) => ({ serialHex: e.serialHex, revokedAt: e.revokedAt, reason: e.reason })));

    expect(verifyCrlSignature(crl, p.ca.spkiDer)).toBe(true);
    const other = kind === 'EC' ? pkis.RSA : pkis.EC;
    expect(verifyCrlSignature(crl, other.ca.spkiDer)).toBe(false);
    expect(verifyCrlSignature(crl, p.ocsp.spkiDer)).toBe(false); // same key type, wrong key
    const tampered = crl.slice();
    // flip a bit in the issuer name: inside the signed bytes, and still a well-formed CRL
    const nameAt = Buffer.from(crl).indexOf(Buffer.from(p.ca.subjectDer));
    tampered[nameAt + p.ca.subjectDer.length - 1] ^= 1;
    expect(parseCrl(tampered).entries).toHaveLength(entries.length);
    expect(verifyCrlSignature(tampered, p.ca.spkiDer)).toBe(false);
  });

  it('streams an async iterable to the same TBS bytes', async () => {
    const p = pki();
    const entries = entriesFor(p);
    async function* gen() {
      for (const e of entries) yield e;
    }
    const fixed = { thisUpdate: new Date('2026-06-01T00:00:00Z'), nextUpdate: new Date('2026-06-08T00:00:00Z') };
    const common = { issuerNameDer: p.ca.subjectDer, authorityKeyId: p.ca.subjectKeyId, signer: p.caSigner, crlNumber: 9n, ...fixed };
    const a = parseCrl(await buildCrl({ ...common, entries }));
    const b = parseCrl(await buildCrl({ ...common, entries: gen() }));
    expect(hex(a.tbsDer)).toBe(hex(b.tbsDer));
  });
});

describe('parseCrl on a CRL openssl wrote', () => {
  it('reads number, AKI, reasons and signature of `openssl ca -gencrl` output', () => {
    const p = pkis.EC;
    write('index.txt', '');
    write('crlnumber', '1000\n');
    write(
      'ca.cnf',
      [
        '[ca]',
        'default_ca = anvil',
        '[anvil]',
        'database = index.txt',
        'crlnumber = crlnumber',
        'default_md = sha256',
        'default_crl_days = 7',
        'certificate = ec-ca.pem',
        'private_key = ec-ca.key',
        'crl_extensions = crl_ext',
        '[crl_ext]',
        'authorityKeyIdentifier = keyid',
      ].join('\n'),
    );
    must('ca', '-config', 'ca.cnf', '-revoke', 'ec-leaf1.pem', '-crl_reason', 'keyCompromise');
    must('ca', '-config', 'ca.cnf', '-revoke', 'ec-leaf2.pem');
    must('ca', '-config', 'ca.cnf', '-gencrl', '-out', 'openssl.crl.pem');
    must('crl', '-in', 'openssl.crl.pem', '-outform', 'DER', '-out', 'openssl.crl');
    const parsed = parseCrl(read('openssl.crl'), { issuerSpkiDer: p.ca.spkiDer });
    expect(parsed.signatureValid).toBe(true);
    expect(parsed.number).toBe(0x1000n);
    expect(hex(parsed.authorityKeyId!)).toBe(hex(p.ca.subjectKeyId));
    expect(hex(parsed.issuerNameDer)).toBe(hex(p.ca.subjectDer));
    const bySerial = Object.fromEntries(parsed.entries.map((e) => [e.serialHex, e.reason]));
    expect(bySerial).toEqual({ [p.leaves.leaf1.serialHex]: 'keyCompromise', [p.leaves.leaf2.serialHex]: 'unspecified' });
  });
});

describe('CRL encoding details', () => {
  it('encodes an entry byte for byte (fixed vector)', async () => {
    const p = pkis.EC;
    const crl = await buildCrl(
      fixedCrlParams([
        { serialHex: '0080ab', revokedAt: new Date('2026-01-02T03:04:05.678Z'), reason: 'keyCompromise' },
        { serialHex: '01', revokedAt: new Date('2026-01-02T03:04:05Z'), reason: 'unspecified' },
      ]),
    );
    const time = hex(Buffer.from('260102030405Z')); // fraction dropped
    const vector = [
      '3038', // revokedCertificates SEQUENCE, 56 octets
      '3022', //   entry 1
      '02030080ab', //     userCertificate: sign octet kept, top bit set
      `170d${time}`, //     revocationDate: UTCTime
      '300c', //     crlEntryExtensions
      '300a0603551d15', //       Extension { reasonCode (non-critical: no BOOLEAN)
      '04030a0101', //         extnValue OCTET STRING { ENUMERATED keyCompromise } }
      '3012', //   entry 2: unspecified, so no crlEntryExtensions at all
      '020101',
      `170d${time}`,
    ].join('');
    expect(hex(crl)).toContain(vector);
    expect(hex(crl)).toContain('0603551d140403020101'); // cRLNumber 1, non-critical
    expect(hex(crl)).toContain(`0603551d23041830168014${hex(p.ca.subjectKeyId)}`); // AKI keyIdentifier only
    expect(hex(crl)).not.toContain('0101ff'); // no critical flag anywhere
  });

  it('exports the RFC 5280 name<->code table', () => {
    expect(REVOCATION_REASON_CODES).toMatchObject({
      unspecified: 0,
      keyCompromise: 1,
      certificateHold: 6,
      removeFromCRL: 8,
      aACompromise: 10,
    });
    expect(revocationReasonName(7)).toBeUndefined();
    expect(revocationReasonName(9)).toBe('privilegeWithdrawn');
  });

  const bad: Array<[string, Partial<RevokedEntry> | Record<string, unknown>, RegExp]> = [
    ['non-minimal serial', { serialHex: '0001' }, /DER-minimal/],
    ['negative serial', { serialHex: '80' }, /DER-minimal/],
    ['zero serial', { serialHex: '00' }, /DER-minimal/],
    ['upper-case hex', { serialHex: 'AB' }, /lowercase hex/],
    ['odd-length hex', { serialHex: 'abc' }, /1\.\.20 octets/],
    ['21-octet serial', { serialHex: `01${'00'.repeat(20)}` }, /1\.\.20 octets/],
    ['removeFromCRL in a full CRL', { reason: 'removeFromCRL' }, /delta CRL/],
    ['unknown reason', { reason: 'lostIt' }, /unknown revocation reason/],
    ['invalid date', { revokedAt: new Date(Number.NaN) }, /revokedAt/],
  ];
  it.each(bad)('refuses an entry with a %s', async (_name, patch, message) => {
    const entry = { serialHex: '1234', revokedAt: new Date(), reason: 'superseded', ...patch } as RevokedEntry;
    const params = fixedCrlParams([entry]);
    await expect(buildCrl(params)).rejects.toThrow(CrlBuildError);
    await expect(buildCrl(params)).rejects.toThrow(message);
  });

  it('refuses impossible CRL parameters', async () => {
    const base = fixedCrlParams([]);
    await expect(buildCrl({ ...base, nextUpdate: base.thisUpdate })).rejects.toThrow(/nextUpdate must be after/);
    await expect(buildCrl({ ...base, crlNumber: 2n ** 160n })).rejects.toThrow(/20 octets/);
    await expect(buildCrl({ ...base, crlNumber: -1n })).rejects.toThrow(/non-negative/);
    await expect(buildCrl({ ...base, issuerNameDer: Uint8Array.of(0x30, 5, 1) })).rejects.toThrow(/issuerNameDer/);
    await expect(buildCrl({ ...base, authorityKeyId: new Uint8Array(0) })).rejects.toThrow(/authorityKeyId/);
  });

  it('refuses malformed CRL DER with CrlParseError', async () => {
    const p = pkis.EC;
    const crl = await buildCrl(fixedCrlParams([{ serialHex: '01', revokedAt: new Date('2026-01-01T00:00:00Z'), reason: 'superseded' }]));
    expect(() => parseCrl(crl.subarray(0, crl.length - 1))).toThrow(CrlParseError);
    expect(() => parseCrl(Buffer.concat([crl, Uint8Array.of(0)]))).toThrow(/trailing/);
    expect(() => parseCrl(new Uint8Array(randomBytes(64)))).toThrow(CrlParseError);
    expect(() => verifyCrlSignature(Uint8Array.of(0x30, 0x80), p.ca.spkiDer)).toThrow(CrlParseError);
  });
});

// --- packed entries (what the store pages out of the database) --------------------------

describe('CRL from packed entries', () => {
  /** Every reason a full CRL may carry, serials of 1..20 octets (with and without a sign octet), both time forms. */
  function variedEntries(): RevokedEntry[] {
    const reasons = (Object.keys(REVOCATION_REASON_CODES) as RevocationReason[]).filter((r) => r !== 'removeFromCRL');
    const times = [
      '1949-12-31T23:59:59Z',
      '1950-01-01T00:00:00Z',
      '2026-06-01T12:34:56.789Z',
      '2049-12-31T23:59:59.999Z',
      '2050-01-01T00:00:00Z',
      '9999-12-31T23:59:59Z',
      '1601-01-01T00:00:00Z',
    ];
    const entries: RevokedEntry[] = [];
    for (let i = 0; i < 120; i++) {
      const n = 1 + (i % 20);
      const body = Buffer.alloc(n, (i * 37 + 11) & 0x7f);
      body[n - 1] = i; // unique among the serials of this length
      body[0] = n === 1 ? 1 + i : 1 + (i % 126);
      if (n > 2 && i % 3 === 0) {
        body[0] = 0; // a sign octet before a set top bit
        body[1] |= 0x80;
      }
      entries.push({ serialHex: body.toString('hex'), revokedAt: new Date(times[i % times.length]), reason: reasons[i % reasons.length] });
    }
    return entries;
  }

  it('encodes to the same TBS bytes as RevokedEntry objects, from one page or several, sync or async', async () => {
    const entries = variedEntries();
    const packed = packRevokedEntries(entries);
    expect(packed.summary).toMatchObject({ count: 120, generalizedTimes: expect.any(Number), withReasonCode: expect.any(Number) });
    expect(packed.summary.generalizedTimes).toBeGreaterThan(0);
    const page = (packed.pages as Uint8Array[])[0];
    // the same entries cut into pages at entry boundaries: the first 7 entries, then the rest
    let cut = 0;
    for (let k = 0; k < 7; k++) cut += 1 + page[cut] + 9;
    async function* pages() {
      yield page.subarray(0, cut);
      yield page.subarray(cut);
    }
    const objects = parseCrl(await buildCrl(fixedCrlParams(entries)), { issuerSpkiDer: pkis.EC.ca.spkiDer });
    const one = parseCrl(await buildCrl({ ...fixedCrlParams([]), entries: packed }), { issuerSpkiDer: pkis.EC.ca.spkiDer });
    const two = parseCrl(await buildCrl({ ...fixedCrlParams([]), entries: { summary: packed.summary, pages: pages() } }));
    expect(one.signatureValid).toBe(true);
    expect(hex(one.tbsDer)).toBe(hex(objects.tbsDer));
    expect(hex(two.tbsDer)).toBe(hex(objects.tbsDer));
    expect(one.entries.map((e) => [e.serialHex, e.revokedAt.toISOString(), e.reason])).toEqual(
      entries.map((e) => [e.serialHex, wholeSeconds(e.revokedAt).toISOString(), e.reason]),
    );
  });

  it('is accepted by openssl crl -verify, entries, reasons and GeneralizedTimes as packed', async () => {
    const p = pkis.EC;
    const entries = variedEntries();
    const crl = await buildCrl({ ...fixedCrlParams([]), entries: packRevokedEntries(entries) });
    write('packed.crl', crl);
    const r = openssl('crl', '-inform', 'DER', '-in', 'packed.crl', '-noout', '-verify', '-CAfile', `${p.prefix}ca.pem`, '-text');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/verify OK/);
    expect(r.out.match(/Serial Number: /g)).toHaveLength(entries.length);
    expect(r.out).toContain('Revocation Date: Dec 31 23:59:59 1949 GMT');
    expect(r.out).toContain('Revocation Date: Jan  1 00:00:00 2050 GMT');
    expect(r.out).toContain('Revocation Date: Dec 31 23:59:59 9999 GMT');
    expect(r.out).toContain('AA Compromise');
  });

  it('writes no revokedCertificates for an empty summary and page list', async () => {
    const empty: PackedRevokedEntries = { summary: { count: 0, serialOctets: 0, withReasonCode: 0, generalizedTimes: 0 }, pages: [] };
    const a = parseCrl(await buildCrl({ ...fixedCrlParams([]), entries: empty }));
    const b = parseCrl(await buildCrl(fixedCrlParams([])));
    expect(hex(a.tbsDer)).toBe(hex(b.tbsDer));
    expect(a.entries).toHaveLength(0);
  });

  it('refuses pages that do not add up to their summary', async () => {
    const packed = packRevokedEntries(variedEntries());
    const build = (summary: PackedRevokedEntries['summary'], pages = packed.pages) =>
      buildCrl({ ...fixedCrlParams([]), entries: { summary, pages } });
    const s = packed.summary;
    await expect(build({ ...s, count: s.count + 1 })).rejects.toThrow(/do not add up/);
    await expect(build({ ...s, serialOctets: s.serialOctets - 1 })).rejects.toThrow(/longer than their summary/);
    await expect(build({ ...s, withReasonCode: s.withReasonCode + 1 })).rejects.toThrow(/do not add up/);
    await expect(build({ ...s, generalizedTimes: s.generalizedTimes - 1 })).rejects.toThrow(/longer than their summary/);
    await expect(build({ ...s, count: -1 })).rejects.toThrow(/non-negative integers/);
    await expect(build({ ...s, withReasonCode: s.count + 1 })).rejects.toThrow(/impossible/);
    await expect(build(s, [...(packed.pages as Uint8Array[]), (packed.pages as Uint8Array[])[0]])).rejects.toThrow(
      /longer than their summary/,
    );
    await expect(build(s, ['not bytes' as unknown as Uint8Array])).rejects.toThrow(/not bytes/);
  });

  /** One packed entry: serial, seconds since 1970, reason code. */
  const packedEntry = (serial: string, seconds: bigint, code: number) => {
    const n = serial.length / 2;
    const b = Buffer.alloc(1 + n + 9);
    b[0] = n;
    Buffer.from(serial, 'hex').copy(b, 1);
    b.writeBigInt64BE(seconds, 1 + n);
    b[1 + n + 8] = code;
    return b;
  };
  const T = 1_780_000_000n;
  const badPages: Array<[string, Uint8Array, RegExp]> = [
    ['an empty serial', packedEntry('', T, 1), /serial length 0/],
    ['a 21-octet serial', packedEntry(`01${'00'.repeat(20)}`, T, 1), /serial length 21/],
    ['a non-minimal serial', packedEntry('0001', T, 1), /DER-minimal/],
    ['a negative serial', packedEntry('80', T, 1), /DER-minimal/],
    ['a zero serial', packedEntry('00', T, 1), /DER-minimal/],
    ['reason code 7 (unused)', packedEntry('01', T, 7), /unknown revocation reason code 7/],
    ['reason code 255 (what the store packs for a name it does not know)', packedEntry('01', T, 255), /unknown revocation reason code 255/],
    ['removeFromCRL', packedEntry('01', T, 8), /delta CRL/],
    ['the year 10000', packedEntry('01', 253402300800n, 1), /year 10000/],
    ['a time beyond 2^53 seconds', packedEntry('01', 2n ** 62n, 1), /whole number of seconds/],
    ['an entry cut off', packedEntry('0102', T, 1).subarray(0, 5), /cut off/],
  ];
  it.each(badPages)('refuses a packed entry with %s', async (_name, page, message) => {
    const summary = { count: 1, serialOctets: Math.min(20, Math.max(1, page[0])), withReasonCode: 1, generalizedTimes: 0 };
    const params = { ...fixedCrlParams([]), entries: { summary, pages: [page] } };
    await expect(buildCrl(params)).rejects.toThrow(CrlBuildError);
    await expect(buildCrl(params)).rejects.toThrow(message);
  });
});

// --- OCSP ----------------------------------------------------------------------------------

describe.each(['EC', 'RSA'] as const)('OCSP with an %s CA', (kind) => {
  const pki = () => pkis[kind];
  const T_REVOKED = new Date('2026-02-03T04:05:06Z');

  /** The CA's view of its certificates, keyed by serial: what the store would answer. */
  function statusFor(p: Pki, serialHex: string): Omit<OcspSingleResponseParams, 'certIdRaw' | 'thisUpdate'> {
    if (serialHex === p.leaves.leaf1.serialHex) return { status: 'revoked', revokedAt: T_REVOKED, reason: 'keyCompromise' };
    if (serialHex === p.leaves.leaf2.serialHex) return { status: 'revoked', revokedAt: T_REVOKED, reason: 'unspecified' };
    if (serialHex === p.leaves.leaf3.serialHex) return { status: 'good' };
    return { status: 'unknown' };
  }

  async function respond(reqFile: string, opts: { nonce?: Uint8Array | null; bySelf?: boolean } = {}): Promise<Uint8Array> {
    const p = pki();
    const req = parseOcspRequest(read(reqFile));
    const now = wholeSeconds(new Date());
    const signerCert = opts.bySelf ? p.ca : p.ocsp;
    return buildOcspResponse({
      signer: opts.bySelf ? p.caSigner : p.ocspSigner,
      responderCertDer: signerCert.der,
      responderKeyHash: issuerHashes(signerCert.subjectDer, signerCert.spkiDer, 'sha1').keyHash,
      producedAt: now,
      responses: req.certIds.map((id) => ({
        certIdRaw: id.raw,
        ...statusFor(p, id.serialHex),
        thisUpdate: new Date(now.getTime() - 60_000),
        nextUpdate: new Date(now.getTime() + 3_600_000),
      })),
      ...(opts.nonce === null ? {} : { nonce: opts.nonce ?? req.nonce }),
    });
  }

  it('parses openssl requests: several certs, nonce, SHA-1 hashes that match issuerHashes', () => {
    const p = pki();
    ocspRequest(p, 'req-multi.der', ...certArgs(p, 'leaf1', 'leaf2', 'leaf3'), '-serial', '0x7777');
    const req = parseOcspRequest(read(`${p.prefix}req-multi.der`));
    expect(req.certIds.map((c) => c.serialHex)).toEqual([
      p.leaves.leaf1.serialHex,
      p.leaves.leaf2.serialHex,
      p.leaves.leaf3.serialHex,
      '7777',
    ]);
    const expected = issuerHashes(p.ca.subjectDer, p.ca.spkiDer, 'sha1');
    for (const id of req.certIds) {
      expect(id.hashAlgorithm).toBe('sha1');
      expect(hex(id.issuerNameHash)).toBe(hex(expected.nameHash));
      expect(hex(id.issuerKeyHash)).toBe(hex(expected.keyHash));
    }
    // keyHash is the SHA-1 of the key bits = the SKI openssl wrote with "subjectKeyIdentifier = hash"
    expect(hex(expected.keyHash)).toBe(hex(p.ca.subjectKeyId));
    expect(req.nonce).toBeDefined();
    const text = must('ocsp', '-reqin', `${p.prefix}req-multi.der`, '-req_text');
    expect(text.replace(/\s/g, '').toLowerCase()).toContain(hex(req.nonce!));
  });

  it('answers good / revoked (reason, time) / unknown, verified by openssl with the request nonce', async () => {
    const p = pki();
    write(`${p.prefix}resp-multi.der`, await respond(`${p.prefix}req-multi.der`));
    for (const trust of [
      ['-CAfile', `${p.prefix}ca.pem`],
      ['-VAfile', `${p.prefix}ocsp.pem`],
    ]) {
      const r = ocspVerify(p, 'resp-multi.der', { reqin: 'req-multi.der', trust, extra: ['-resp_text'] });
      expect(r.out).toContain('Response verify OK');
      expect(r.out).not.toMatch(/Nonce Verify error|WARNING: no nonce/);
      expect(r.out).toContain('OCSP Response Status: successful (0x0)');
      expect(r.out).toContain('Response Type: Basic OCSP Response');
      expect(r.out).toContain('OCSP Nonce:');
      expect(r.out).toContain('OCSP No Check'); // the responder certificate travelled in certs
      const singles = r.out.split('Certificate ID:').slice(1);
      expect(singles).toHaveLength(4);
      expect(singles[0]).toContain('Cert Status: revoked');
      expect(singles[0]).toContain('Revocation Time: Feb  3 04:05:06 2026 GMT');
      expect(singles[0]).toContain('Revocation Reason: keyCompromise (0x1)');
      expect(singles[1]).toContain('Cert Status: revoked');
      expect(singles[1]).not.toContain('Revocation Reason');
      expect(singles[2]).toContain('Cert Status: good');
      expect(singles[3]).toContain('Cert Status: unknown');
    }
  });

  it('matches openssl-computed CertIDs per certificate (ocsp -cert summary)', async () => {
    const p = pki();
    const r = ocspVerify(p, 'resp-multi.der', { extra: ['-no_nonce', ...certArgs(p, 'leaf1', 'leaf2', 'leaf3')] });
    expect(r.out).toContain('Response verify OK');
    expect(r.out).not.toContain('Status times invalid');
    expect(r.out).toMatch(
      new RegExp(`${p.prefix}leaf1.pem: revoked[\\s\\S]*Reason: keyCompromise[\\s\\S]*Revocation Time: Feb  3 04:05:06 2026 GMT`),
    );
    expect(r.out).toContain(`${p.prefix}leaf2.pem: revoked`);
    expect(r.out).toContain(`${p.prefix}leaf3.pem: good`);
  });

  it('answers a -no_nonce request without a nonce', async () => {
    const p = pki();
    ocspRequest(p, 'req-nononce.der', ...certArgs(p, 'leaf3'), '-no_nonce');
    const req = parseOcspRequest(read(`${p.prefix}req-nononce.der`));
    expect(req.nonce).toBeUndefined();
    expect(req.certIds).toHaveLength(1);
    const resp = await respond(`${p.prefix}req-nononce.der`);
    write(`${p.prefix}resp-nononce.der`, resp);
    expect(parseOcspResponse(resp).nonce).toBeUndefined();
    const r = ocspVerify(p, 'resp-nononce.der', { reqin: 'req-nononce.der', extra: ['-resp_text'] });
    expect(r.out).toContain('Response verify OK');
    expect(r.out).not.toContain('OCSP Nonce:');
    expect(r.out).toContain('Cert Status: good');
  });

  it('handles a -sha256 request', async () => {
    const p = pki();
    ocspRequest(p, 'req-sha256.der', '-sha256', ...certArgs(p, 'leaf1'));
    const req = parseOcspRequest(read(`${p.prefix}req-sha256.der`));
    expect(req.certIds[0].hashAlgorithm).toBe('sha256');
    const expected = issuerHashes(p.ca.subjectDer, p.ca.spkiDer, 'sha256');
    expect(hex(req.certIds[0].issuerNameHash)).toBe(hex(expected.nameHash));
    expect(hex(req.certIds[0].issuerKeyHash)).toBe(hex(expected.keyHash));
    write(`${p.prefix}resp-sha256.der`, await respond(`${p.prefix}req-sha256.der`));
    const r = ocspVerify(p, 'resp-sha256.der', { reqin: 'req-sha256.der', extra: ['-resp_text'] });
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toContain('Hash Algorithm: sha256');
    expect(r.out).toContain('Revocation Reason: keyCompromise (0x1)');
    const summary = ocspVerify(p, 'resp-sha256.der', { extra: ['-no_nonce', '-sha256', ...certArgs(p, 'leaf1')] });
    expect(summary.out).toContain(`${p.prefix}leaf1.pem: revoked`);
  });

  it('can be signed by the CA key itself', async () => {
    const p = pki();
    write(`${p.prefix}resp-self.der`, await respond(`${p.prefix}req-multi.der`, { bySelf: true }));
    const r = ocspVerify(p, 'resp-self.der', { reqin: 'req-multi.der', extra: ['-resp_text'] });
    expect(r.out).toContain('Response verify OK');
  });

  it('is caught by openssl when the nonce is not echoed (negative controls)', async () => {
    const p = pki();
    write(
      `${p.prefix}resp-badnonce.der`,
      await respond(`${p.prefix}req-multi.der`, { nonce: tlv(TAG.OCTET_STRING, new Uint8Array(randomBytes(16))) }),
    );
    const wrong = ocspVerify(p, 'resp-badnonce.der', { reqin: 'req-multi.der' });
    expect(wrong.out).toContain('Nonce Verify error');
    write(`${p.prefix}resp-nonnonce.der`, await respond(`${p.prefix}req-multi.der`, { nonce: null }));
    const missing = ocspVerify(p, 'resp-nonnonce.der', { reqin: 'req-multi.der' });
    expect(missing.out).toContain('WARNING: no nonce in response');
  });

  it('round-trips through parseOcspResponse', async () => {
    const p = pki();
    const req = parseOcspRequest(read(`${p.prefix}req-multi.der`));
    const resp = await respond(`${p.prefix}req-multi.der`);
    const parsed = parseOcspResponse(resp, { responderSpkiDer: p.ocsp.spkiDer });
    expect(parsed.status).toBe('successful');
    expect(parsed.signatureValid).toBe(true);
    expect(hex(parsed.nonce!)).toBe(hex(req.nonce!));
    expect(hex(parsed.responderKeyHash!)).toBe(hex(p.ocsp.subjectKeyId));
    expect(parsed.certs.map(hex)).toEqual([hex(p.ocsp.der)]);
    expect(parsed.responses.map((r) => [r.certId.serialHex, r.status, r.reason, r.revokedAt?.toISOString()])).toEqual([
      [p.leaves.leaf1.serialHex, 'revoked', 'keyCompromise', T_REVOKED.toISOString()],
      [p.leaves.leaf2.serialHex, 'revoked', 'unspecified', T_REVOKED.toISOString()],
      [p.leaves.leaf3.serialHex, 'good', undefined, undefined],
      ['7777', 'unknown', undefined, undefined],
    ]);
    for (const [i, r] of parsed.responses.entries()) expect(hex(r.certId.raw)).toBe(hex(req.certIds[i].raw));
    expect(verifyOcspResponseSignature(resp, p.ocsp.spkiDer)).toBe(true);
    expect(verifyOcspResponseSignature(resp, p.ca.spkiDer)).toBe(false);
  });
});

describe('OCSP errors', () => {
  const statuses: OcspErrorStatus[] = ['malformedRequest', 'internalError', 'tryLater', 'sigRequired', 'unauthorized'];
  it.each(statuses)('writes an unsigned %s response that openssl reads', (status) => {
    const der = ocspErrorResponse(status);
    write(`err-${status}.der`, der);
    const code = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 }[status];
    // openssl ocsp reports a non-successful status as a responder error and stops there
    const r = openssl('ocsp', '-respin', `err-${status}.der`, '-resp_text', '-noverify');
    expect(r.out).toContain(`Responder Error: ${status.toLowerCase()} (${code})`);
    expect(hex(der)).toBe(`30030a010${code}`);
    expect(parseOcspResponse(der)).toEqual({ status, responses: [], certs: [] });
  });

  beforeAll(() => {
    must('ocsp', '-issuer', 'ec-ca.pem', '-cert', 'ec-leaf1.pem', '-cert', 'ec-leaf3.pem', '-reqout', 'err-req.der');
  });
  it('will not write an error response saying successful', () => {
    expect(() => ocspErrorResponse('successful' as OcspErrorStatus)).toThrow(OcspBuildError);
  });

  const validRequest = () => read('err-req.der');
  const certId = () => parseOcspRequest(read('err-req.der')).certIds[0].raw;
  const request = (...parts: Uint8Array[]) => tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, ...parts));
  const nonceExt = (nonce: Uint8Array) =>
    tlv(
      ctx(2),
      tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, tlv(TAG.OID, Uint8Array.of(0x2b, 6, 1, 5, 5, 7, 48, 1, 2)), tlv(TAG.OCTET_STRING, nonce))),
    );

  const garbage: Array<[string, () => Uint8Array, RegExp]> = [
    ['random bytes', () => new Uint8Array(randomBytes(100)), /malformed OCSP request/],
    ['empty input', () => new Uint8Array(0), /empty/],
    ['truncated DER', () => validRequest().subarray(0, validRequest().length - 3), /claims|truncated|missing/],
    ['trailing bytes', () => Buffer.concat([validRequest(), Uint8Array.of(0)]), /trailing/],
    ['BER indefinite length', () => Uint8Array.of(0x30, 0x80, 0, 0), /indefinite/],
    ['no CertID', () => request(tlv(TAG.SEQUENCE)), /no CertID/],
    ['a text body', () => new Uint8Array(Buffer.from('GET / HTTP/1.1\r\n')), /malformed OCSP request/],
    ['an empty nonce', () => request(tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, certId())), nonceExt(tlv(TAG.OCTET_STRING))), /nonce of 0 octets/],
    [
      'a 129-octet nonce',
      () => request(tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, certId())), nonceExt(tlv(TAG.OCTET_STRING, new Uint8Array(129)))),
      /nonce of 129/,
    ],
  ];
  it.each(garbage)('rejects %s with OcspRequestError', (_name, make, message) => {
    const der = make();
    expect(() => parseOcspRequest(der)).toThrow(OcspRequestError);
    expect(() => parseOcspRequest(der)).toThrow(message);
  });

  it('accepts a hand-built minimal request and a 128-octet nonce', () => {
    const req = parseOcspRequest(
      request(tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, certId())), nonceExt(tlv(TAG.OCTET_STRING, new Uint8Array(128)))),
    );
    expect(req.certIds).toHaveLength(1);
    expect(req.nonce).toHaveLength(131);
  });

  it('refuses impossible response parameters with OcspBuildError', async () => {
    const p = pkis.EC;
    const base = {
      signer: p.ocspSigner,
      responderCertDer: p.ocsp.der,
      responderKeyHash: p.ocsp.subjectKeyId,
      producedAt: new Date(),
      responses: [{ certIdRaw: certId(), status: 'good' as const, thisUpdate: new Date() }],
    };
    await expect(buildOcspResponse(base)).resolves.toBeInstanceOf(Uint8Array);
    const cases: Array<[Partial<typeof base> | Record<string, unknown>, RegExp]> = [
      [{ responses: [] }, /must not be empty/],
      [{ responderKeyHash: new Uint8Array(32) }, /20-octet/],
      [{ responses: [{ certIdRaw: certId(), status: 'revoked', thisUpdate: new Date() }] }, /needs revokedAt/],
      [{ responses: [{ certIdRaw: certId(), status: 'good', reason: 'keyCompromise', thisUpdate: new Date() }] }, /revoked status only/],
      [
        { responses: [{ certIdRaw: certId(), status: 'revoked', revokedAt: new Date(), reason: 'removeFromCRL', thisUpdate: new Date() }] },
        /removeFromCRL/,
      ],
      [{ responses: [{ certIdRaw: Uint8Array.of(1, 2, 3), status: 'good', thisUpdate: new Date() }] }, /certIdRaw/],
      [{ responses: [{ certIdRaw: certId(), status: 'good', thisUpdate: new Date(), nextUpdate: new Date(0) }] }, /nextUpdate/],
    ];
    for (const [patch, message] of cases) {
      const params = { ...base, ...patch } as Parameters<typeof buildOcspResponse>[0];
      await expect(buildOcspResponse(params)).rejects.toThrow(OcspBuildError);
      await expect(buildOcspResponse(params)).rejects.toThrow(message);
    }
  });

  it('uses the same reason codes as the CRL', () => {
    for (const [name, code] of Object.entries(REVOCATION_REASON_CODES)) expect(revocationReasonName(code)).toBe(name as RevocationReason);
  });
});
