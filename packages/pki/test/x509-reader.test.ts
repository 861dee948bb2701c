/**
 * The one certificate reader (src/x509/certificate-reader.ts): each leniency of its lenient mode
 * (the judge's) shown on a certificate OpenSSL also reads, and refused by the strict mode.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TAG, children, concat, readOne, tlv } from '../src/der.ts';
import { CertificateParseError } from '../src/errors.ts';
import { OID } from '../src/oids.ts';
import { parseCertificateModel } from '../src/validation/x509-model.ts';
import { readCertificate, walkCertificate } from '../src/x509/certificate-reader.ts';
import { haveTool, tempDir } from '../../../test/support/tools.ts';
import { selfSignedP256 } from './support.ts';

describe.skipIf(!haveTool('openssl'))('certificate reader: strict and lenient', () => {
  let dir: string;
  let certDer: Uint8Array;
  const x509Text = (der: Uint8Array) => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.der`);
    writeFileSync(file, der);
    return spawnSync('openssl', ['x509', '-inform', 'DER', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
  };

  beforeAll(() => {
    dir = tempDir();
    certDer = selfSignedP256(dir, { subj: '/CN=reader', extra: ['-addext', 'basicConstraints=critical,CA:TRUE'] });
  });

  it('both modes read a DER certificate alike', () => {
    const strict = readCertificate({ der: certDer });
    const lenient = walkCertificate({ der: certDer, mode: 'lenient' });
    expect(strict.versionNumber).toBe(2);
    expect(lenient.extensions.map((e) => [e.oid, e.critical])).toEqual(strict.extensions.map((e) => [e.oid, e.critical]));
    expect(strict.extensions.find((e) => e.oid === OID.basicConstraints)?.critical).toBe(true);
  });

  it('leniency 1 (non-minimal lengths): openssl reads the certificate, the lenient mode too, the strict one refuses it', () => {
    const cert = readOne(certDer);
    const [tbs, alg, sig] = children(cert);
    const [version, ...rest] = children(tbs);
    const raw = (t: { start: number; end: number }) => certDer.subarray(t.start, t.end);
    const longVersion = concat([
      Uint8Array.of(0xa0, 0x81, version.end - version.contentStart),
      certDer.subarray(version.contentStart, version.end),
    ]);
    const der = tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, longVersion, ...rest.map(raw)), raw(alg), raw(sig));
    expect(x509Text(der).status).toBe(0);
    expect(walkCertificate({ der, mode: 'lenient' }).versionNumber).toBe(2);
    expect(() => readCertificate({ der })).toThrow(CertificateParseError);
    expect(() => readCertificate({ der })).toThrow(/non-minimal length/);
  });

  it('leniency 2 (BER BOOLEAN): a critical flag of 01 is TRUE for openssl and the lenient mode, not DER for the strict one', () => {
    // basicConstraints OID, then BOOLEAN TRUE (01 01 ff) rewritten as 01 01 01
    const pattern = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff]);
    const at = Buffer.from(certDer).indexOf(pattern);
    expect(at).toBeGreaterThan(0);
    const der = Uint8Array.from(certDer);
    der[at + pattern.length - 1] = 0x01;
    const r = x509Text(der);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Basic Constraints: critical/);
    expect(walkCertificate({ der, mode: 'lenient' }).extensions.find((e) => e.oid === OID.basicConstraints)?.critical).toBe(true);
    expect(parseCertificateModel(der).criticalUnhandled).toEqual([]);
    expect(() => readCertificate({ der })).toThrow(/not a DER BOOLEAN/);
  });

  it('the shape is RFC 5280 in both modes: a field after the extensions is refused', () => {
    const cert = readOne(certDer);
    const [tbs, alg, sig] = children(cert);
    const raw = (t: { start: number; end: number }) => certDer.subarray(t.start, t.end);
    const der = tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, ...children(tbs).map(raw), Uint8Array.of(0x05, 0x00)), raw(alg), raw(sig));
    expect(x509Text(der).status).not.toBe(0);
    expect(() => walkCertificate({ der, mode: 'lenient' })).toThrow(/unexpected trailing field/);
    expect(() => readCertificate({ der })).toThrow(/unexpected trailing field/);
  });
});
