/**
 * The one DER reader (src/der.ts): its strict mode, and each leniency of its lenient mode (the
 * judge's) shown on a vector that OpenSSL also accepts, so that no leniency exists without a
 * reason. The OID cases show what is not a leniency: OpenSSL refuses those, and so do both modes.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DerError, LENIENT, STRICT, TAG, children, concat, decodeOid, oidOf, readOne, readTlv, tlv } from '../src/der.ts';
import { parseCertificateModel } from '../src/validation/x509-model.ts';
import { haveTool, tempDir } from '../../../test/support/tools.ts';
import { selfSignedP256 } from './support.ts';

/** Leniency 1, short value in the long form: 30 81 03 02 01 05. */
const LONG_FORM_SHORT = Uint8Array.of(0x30, 0x81, 0x03, 0x02, 0x01, 0x05);
/** Leniency 1, leading zero length octet: 30 82 00 03 02 01 05. */
const LEADING_ZERO = Uint8Array.of(0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x05);

describe('DER reader modes', () => {
  it('strict mode refuses non-minimal lengths; lenient mode reads them as OpenSSL does', () => {
    for (const v of [LONG_FORM_SHORT, LEADING_ZERO]) {
      expect(() => readTlv(v, 0)).toThrow(DerError);
      expect(() => readTlv(v, 0, v.length, STRICT)).toThrow(/non-minimal length/);
      const t = readOne(v, LENIENT, TAG.SEQUENCE);
      expect(t.lenient).toBe(true);
      const [int] = children(t);
      expect(int.tag).toBe(TAG.INTEGER);
      expect(t.buf[int.contentStart]).toBe(5);
    }
  });

  it('children are read in the mode of their parent', () => {
    const nested = Uint8Array.of(0x30, 0x04, 0x30, 0x81, 0x01, 0x05);
    expect(() => children(readOne(nested))).toThrow(/non-minimal length/);
    expect(children(readOne(nested, LENIENT))[0].end).toBe(6);
  });

  it('what stays strict in both modes', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['indefinite length', Uint8Array.of(0x30, 0x80, 0x00, 0x00)],
      ['multi-byte tag', Uint8Array.of(0x1f, 0x81, 0x01, 0x00)],
      ['length of 5 octets', Uint8Array.of(0x04, 0x85, 0, 0, 0, 0, 1, 0)],
      ['overrun', Uint8Array.of(0x04, 0x05, 0x01)],
      ['truncated length', Uint8Array.of(0x04, 0x82, 0x01)],
    ];
    for (const [, v] of cases) {
      expect(() => readTlv(v, 0, v.length, STRICT)).toThrow(DerError);
      expect(() => readTlv(v, 0, v.length, LENIENT)).toThrow(DerError);
    }
    expect(() => readOne(Uint8Array.of(0x05, 0x00, 0x00), LENIENT)).toThrow(/trailing/);
  });

  it('OBJECT IDENTIFIERs: one strict decoder', () => {
    expect(decodeOid(Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b))).toBe('1.2.840.113549.1.1.11');
    expect(decodeOid(Uint8Array.of(0x88, 0x37, 0x03))).toBe('2.999.3');
    expect(() => decodeOid(Uint8Array.of(0x2a, 0x80, 0x03))).toThrow(/not minimal/); // non-minimal arc
    expect(() => decodeOid(Uint8Array.of(0x2a, 0x86))).toThrow(/truncated/); // last arc unfinished
    expect(() => decodeOid(new Uint8Array(0))).toThrow(DerError);
    expect(() => oidOf(readOne(Uint8Array.of(0x05, 0x00)))).toThrow(/expected an OBJECT IDENTIFIER/);
  });
});

const hasOpenssl = haveTool('openssl');

describe.skipIf(!hasOpenssl)('each leniency is accepted by OpenSSL too', () => {
  let dir: string;
  let certDer: Uint8Array;
  const asn1parse = (der: Uint8Array) => {
    const file = join(dir, `v${Math.random().toString(36).slice(2)}.der`);
    writeFileSync(file, der);
    return spawnSync('openssl', ['asn1parse', '-inform', 'DER', '-in', file], { encoding: 'utf8' });
  };
  /** `openssl x509` reading the certificate (it does not check the signature). */
  const x509Subject = (der: Uint8Array) => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.der`);
    writeFileSync(file, der);
    return spawnSync('openssl', ['x509', '-inform', 'DER', '-in', file, '-noout', '-subject'], { encoding: 'utf8' });
  };
  /** The certificate with its [0] version field's length written as `lengthOctets`. */
  const withVersionLength = (lengthOctets: number[]): Uint8Array => {
    const cert = readOne(certDer);
    const [tbs, alg, sig] = children(cert);
    const fields = children(tbs);
    const version = fields[0];
    expect(version.tag).toBe(0xa0);
    const newVersion = concat([Uint8Array.of(0xa0, ...lengthOctets), certDer.subarray(version.contentStart, version.end)]);
    const rest = fields.slice(1).map((f) => certDer.subarray(f.start, f.end));
    const raw = (t: { start: number; end: number }) => certDer.subarray(t.start, t.end);
    return tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, newVersion, ...rest), raw(alg), raw(sig));
  };

  beforeAll(() => {
    dir = tempDir();
    certDer = selfSignedP256(dir, { subj: '/CN=lenient' });
  });

  it('leniency 1 (non-minimal lengths): openssl asn1parse reads the vectors', () => {
    for (const v of [LONG_FORM_SHORT, LEADING_ZERO]) {
      const r = asn1parse(v);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/INTEGER\s+:05/);
    }
  });

  it('leniency 1 (non-minimal lengths): openssl x509 reads such a certificate, and so does the judge', () => {
    for (const octets of [
      [0x81, 0x03],
      [0x82, 0x00, 0x03],
    ]) {
      const der = withVersionLength(octets);
      const r = x509Subject(der);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/CN ?= ?lenient/);
      expect(parseCertificateModel(der).subject.oneline).toBe('CN = lenient');
      expect(() => readOne(der, STRICT)).not.toThrow(); // the outer lengths are minimal...
      expect(() => children(children(readOne(der))[0])).toThrow(/non-minimal length/); // ...the version's is not
    }
  });

  it('not a leniency: OpenSSL refuses a non-minimal OID arc, and the judge does too', () => {
    // ecdsa-with-SHA256 written with a 0x80 padding octet in its arc 10045 (0xce 0x3d -> 0x80 0xce 0x3d)
    const good = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02);
    const bad = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x80, 0xce, 0x3d, 0x04, 0x03, 0x02);
    const cert = readOne(certDer);
    const [tbs, alg, sig] = children(cert);
    const raw = (t: { start: number; end: number }) => certDer.subarray(t.start, t.end);
    const tbsFields = children(tbs).map(raw);
    const i = tbsFields.findIndex((f) => Buffer.from(f).indexOf(Buffer.from(good)) >= 0); // the inner signature AlgorithmIdentifier
    expect(i).toBeGreaterThan(0);
    tbsFields[i] = tlv(TAG.SEQUENCE, bad);
    const der = tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, ...tbsFields), raw(alg), raw(sig));
    expect(x509Subject(der).status).not.toBe(0);
    expect(() => parseCertificateModel(der)).toThrow(/not minimal/);
  });
});
