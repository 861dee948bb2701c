/** The public surface of @anvil/pki. */
export * from './errors.ts';
export * from './pem.ts';
export * from './oids.ts';
export * from './keys.ts';
export * from './signature-algorithms.ts';
export * from './signer.ts';
export * from './key-backup.ts';
export * from './time.ts';
export * from './serial.ts';
export * from './names.ts';
export * from './certificate.ts';
export * from './name-constraints.ts';
export * from './certificate-info.ts';
export {
  certificateFacts,
  extensionOf,
  readCertificate,
  readTbsCertificate,
  type CertificateFacts,
  type CertificateFields,
  type ReadCertificateParams,
  type ReadMode,
  type TbsCertificateFields,
} from './x509/certificate-reader.ts';
export * from './lru.ts';
export * from './csr.ts';
export * from './csr-builder.ts';
export * from './csr-attributes.ts';
export * from './ca-import.ts';
export * from './lint.ts';
export * from './jws.ts';
export * from './bundles/pkcs7.ts';
export * from './bundles/pkcs12.ts';
export { BundleError } from './bundles/inputs.ts';
export * from './revocation/reasons.ts';
export * from './revocation/crl-builder.ts';
export { parseCrl, verifyCrlSignature, type ParseCrlOptions, type ParsedCrl, type ParsedCrlEntry } from './x509/crl-reader.ts';
export * from './revocation/ocsp.ts';
export * from './validation/index.ts';
