/** CsrAttrs (RFC 7030 4.5.2) as encoded here, read back by `openssl asn1parse` (a reader we did not write). */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CsrAttrsError, encodeCsrAttrs, OID } from '../src/index.ts';
import { haveTool } from '../../../test/support/tools.ts';

const hasOpenssl = haveTool('openssl');

/** `openssl asn1parse -inform DER` of the bytes: one line per element, offsets stripped. */
function asn1parse(der: Uint8Array): string[] {
  const r = spawnSync('openssl', ['asn1parse', '-inform', 'DER'], { input: Buffer.from(der), encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((line) =>
      line
        .replace(/^\s*\d+:d=(\d+)\s+hl=\d+ l=\s*\d+\s+/, '$1 ')
        .replace(/\s+/g, ' ')
        .trim(),
    );
}

describe.skipIf(!hasOpenssl)('encodeCsrAttrs', () => {
  it('writes bare OIDs and OID-valued attributes in order, as RFC 7030 4.5.2 shows', () => {
    const der = encodeCsrAttrs([
      { type: OID.ecPublicKey, values: [OID.p256, OID.p384] },
      { oid: OID.rsaEncryption },
      { oid: OID.ed25519 },
      { type: OID.extensionRequest, values: [OID.subjectAltName] },
    ]);
    expect(asn1parse(der)).toEqual([
      '0 cons: SEQUENCE',
      '1 cons: SEQUENCE',
      '2 prim: OBJECT :id-ecPublicKey',
      '2 cons: SET',
      '3 prim: OBJECT :prime256v1',
      '3 prim: OBJECT :secp384r1',
      '1 prim: OBJECT :rsaEncryption',
      '1 prim: OBJECT :ED25519',
      '1 cons: SEQUENCE',
      '2 prim: OBJECT :Extension Request',
      '2 cons: SET',
      '3 prim: OBJECT :X509v3 Subject Alternative Name',
    ]);
  });

  it('an empty list is an empty SEQUENCE (nothing asked)', () => {
    expect(Buffer.from(encodeCsrAttrs([])).toString('hex')).toBe('3000');
    expect(asn1parse(encodeCsrAttrs([]))).toEqual(['0 cons: SEQUENCE']);
  });

  it('refuses what is not an OID and attributes without values', () => {
    expect(() => encodeCsrAttrs([{ oid: 'rsaEncryption' }])).toThrow(CsrAttrsError);
    expect(() => encodeCsrAttrs([{ oid: '1.2.' }])).toThrow(CsrAttrsError);
    expect(() => encodeCsrAttrs([{ type: OID.ecPublicKey, values: [] }])).toThrow(/at least one value/);
  });
});
