/**
 * Certs-only PKCS#7 (the `.p7b` download): a CMS SignedData that signs nothing and exists to
 * carry certificates, as RFC 5652 section 5 allows ("degenerate" SignedData). Windows, Java
 * (`keytool -importcert`) and `openssl pkcs7 -print_certs` read it.
 */
import * as pkijs from 'pkijs';
import { toPem } from '../pem.ts';
import { BundleError, readCertificate, requireBytes } from './inputs.ts';

const ID_DATA = '1.2.840.113549.1.7.1';
const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';

/**
 * A DER ContentInfo holding a degenerate SignedData: version 1, no digest algorithms,
 * encapsulated content id-data with no content, the certificates, no signers.
 *
 * Certificates are written in the order given (leaf first by convention). Strict DER would sort
 * the SET OF by encoding, but readers show and import them in file order and OpenSSL itself
 * writes them unsorted, so the caller's order is the useful one.
 *
 * Throws BundleError when the list is empty or an entry is not a DER certificate.
 */
export function buildPkcs7CertsOnly(certsDer: Uint8Array[]): Uint8Array {
  if (!Array.isArray(certsDer)) throw new BundleError('certsDer must be an array of DER certificates');
  if (certsDer.length === 0) throw new BundleError('certsDer must hold at least one certificate');
  const certificates = certsDer.map((der, i) => readCertificate(der, `certsDer[${i}]`));

  const signedData = new pkijs.SignedData({
    // pkijs recomputes the version from the contents on encoding; with only X.509
    // certificates, no signers and id-data it comes out as 1, as RFC 5652 5.1 requires.
    version: 1,
    digestAlgorithms: [],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: ID_DATA }),
    certificates,
    signerInfos: [],
  });
  const contentInfo = new pkijs.ContentInfo({ contentType: ID_SIGNED_DATA, content: signedData.toSchema() });
  return new Uint8Array(contentInfo.toSchema().toBER());
}

/** PEM armour with the label `openssl pkcs7 -inform PEM` expects (RFC 7468 section 8). */
export function pkcs7ToPem(der: Uint8Array): string {
  return toPem(requireBytes(der, 'der'), 'PKCS7');
}
