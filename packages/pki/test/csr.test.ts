/** CSR proof of possession: the signature verifies with the CSR's key, under the algorithm it names, with a key of that algorithm's type. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAndVerifyCsr } from '../src/csr.ts';
import { encodeOid, readTlv, tlv } from '../src/der.ts';

const SEQUENCE = 0x30;

function opensslCsr(keyArgs: string[]): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-csr-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      ...keyArgs,
      '-nodes',
      '-keyout',
      join(dir, 'k.pem'),
      '-subj',
      '/CN=csr.test',
      '-outform',
      'DER',
      '-out',
      join(dir, 'r.der'),
    ],
    {
      stdio: 'ignore',
    },
  );
  return new Uint8Array(readFileSync(join(dir, 'r.der')));
}

/** The same CSR with its signatureAlgorithm replaced (info and signature bytes kept). */
function relabel(csr: Uint8Array, algorithmId: Uint8Array): Uint8Array {
  const outer = readTlv(csr, 0);
  const info = readTlv(csr, outer.contentStart);
  const alg = readTlv(csr, info.end);
  return tlv(SEQUENCE, csr.subarray(info.start, info.end), algorithmId, csr.subarray(alg.end, outer.end));
}

describe('CSR signature and key type', () => {
  it('accepts an ECDSA CSR from openssl', () => {
    const csr = opensslCsr(['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    expect(parseAndVerifyCsr(csr).subject.CN).toBe('csr.test');
  });

  it('refuses an ECDSA signature labelled sha256WithRSAEncryption, though node would verify it', () => {
    const csr = opensslCsr(['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const rsaAlg = tlv(SEQUENCE, encodeOid('1.2.840.113549.1.1.11'), new Uint8Array([0x05, 0x00]));
    expect(() => parseAndVerifyCsr(relabel(csr, rsaAlg))).toThrow(expect.objectContaining({ code: 'csr_signature_invalid' }));
  });
});
