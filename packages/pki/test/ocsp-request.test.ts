/** buildOcspRequest: what openssl reads as the request it would send itself, and what Anvil's responder parses back. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOcspRequest, parseOcspRequest } from '../src/revocation/ocsp.ts';
import { certificateFacts } from '../src/x509/certificate-reader.ts';
import { selfSignedP256 } from './support.ts';

describe('buildOcspRequest', () => {
  it('is read by openssl and by parseOcspRequest, with the CertIDs openssl would compute', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-ocspreq-'));
    const ca = selfSignedP256(dir, { subj: '/CN=OCSP request CA' });
    const facts = certificateFacts(ca);
    for (const hash of ['sha1', 'sha256'] as const) {
      const der = buildOcspRequest({
        issuerNameDer: Buffer.from(facts.subjectNameHex, 'hex'),
        issuerSpkiDer: facts.spki,
        serialsHex: ['0a1b', '80ff'],
        hash,
      });
      writeFileSync(join(dir, 'req.der'), der);
      const text = execFileSync('openssl', ['ocsp', '-reqin', join(dir, 'req.der'), '-req_text', '-noverify'], { encoding: 'utf8' });
      expect(text).toContain(`Hash Algorithm: ${hash}`);
      expect(text).toContain('Serial Number: 0A1B');
      expect(text).toContain('Serial Number: 80FF');
      const parsed = parseOcspRequest(der);
      expect(parsed.certIds.map((c) => c.serialHex)).toEqual(['0a1b', '0080ff']); // the INTEGER's content: a leading zero keeps 0x80ff positive
      expect(parsed.certIds[0].hashAlgorithm).toBe(hash);
    }
  });
});
