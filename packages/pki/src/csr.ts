import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { readGeneralNames, readName, emptySans, type Sans } from './names.ts';
import { OID } from './oids.ts';

/** What Anvil takes from a CSR: its key (after proof of possession) and the names it asks for. */
export interface ParsedCsr {
  publicKeySpki: Uint8Array;
  subject: Record<string, string>;
  requestedSans: Sans;
}

const SIGNATURE_HASHES: Record<string, string | null> = {
  [OID.ecdsaWithSha256]: 'sha256',
  [OID.ecdsaWithSha384]: 'sha384',
  [OID.ecdsaWithSha512]: 'sha512',
  [OID.sha256WithRsa]: 'sha256',
  [OID.sha384WithRsa]: 'sha384',
  [OID.sha512WithRsa]: 'sha512',
  [OID.ed25519]: null,
};

export class CsrError extends Error {
  constructor(readonly code: 'malformed_csr' | 'csr_signature_invalid' | 'csr_signature_algorithm', message: string) {
    super(message);
  }
}

/**
 * Parses a PKCS#10 request and verifies its self-signature with node:crypto (pkijs 4 cannot
 * verify Ed25519). Anything else in the CSR (extensions other than SAN, attributes) is ignored.
 */
export function parseAndVerifyCsr(der: Uint8Array): ParsedCsr {
  let csr: pkijs.CertificationRequest;
  try {
    const asn = asn1js.fromBER(der);
    if (asn.offset === -1 || asn.offset !== der.byteLength) throw new Error('bad DER');
    csr = new pkijs.CertificationRequest({ schema: asn.result });
  } catch {
    throw new CsrError('malformed_csr', 'the CSR is not a DER or PEM PKCS#10 certification request');
  }
  const algorithm = csr.signatureAlgorithm.algorithmId;
  if (!(algorithm in SIGNATURE_HASHES)) {
    throw new CsrError('csr_signature_algorithm', `unsupported CSR signature algorithm ${algorithm}`);
  }
  const spki = new Uint8Array(csr.subjectPublicKeyInfo.toSchema().toBER(false));
  let ok = false;
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    ok = nodeVerify(
      SIGNATURE_HASHES[algorithm],
      csr.tbsView,
      key,
      csr.signatureValue.valueBlock.valueHexView,
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new CsrError('csr_signature_invalid', 'the CSR signature does not verify (no proof of possession)');

  let requestedSans = emptySans();
  const extReq = csr.attributes?.find((a) => a.type === '1.2.840.113549.1.9.14');
  if (extReq) {
    try {
      const exts = new pkijs.Extensions({ schema: extReq.values[0] });
      const san = exts.extensions.find((e) => e.extnID === OID.subjectAltName);
      if (san) requestedSans = readGeneralNames((san.parsedValue as pkijs.AltName).altNames);
    } catch {
      throw new CsrError('malformed_csr', 'the CSR extension request is malformed');
    }
  }
  return { publicKeySpki: spki, subject: readName(csr.subject), requestedSans };
}
