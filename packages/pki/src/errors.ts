/**
 * The one error taxonomy of the engine: everything it throws on purpose is a PkiError with a
 * stable `code` (cfssl's category + reason), one subclass per concern, so that callers (the CA's
 * CaError mapping, the CLI) can tell failures apart by class or by code without parsing messages.
 */
export class PkiError<C extends string = string> extends Error {
  constructor(
    readonly code: C,
    message: string,
  ) {
    super(message);
  }
}

/** Bytes that are not the DER (or, in the judge's lenient mode, the BER) they should be. */
export class DerError extends PkiError<'malformed_der'> {
  constructor(message: string) {
    super('malformed_der', message);
  }
}

/** Not one X.509 certificate: the one error of the certificate readers (x509/certificate-reader.ts, and pkijs for signing). */
export class CertificateParseError extends PkiError<'malformed_certificate'> {
  constructor(message: string) {
    super('malformed_certificate', message);
  }
}

/** Not one CRL: the one error of both CRL readers (x509/crl-reader.ts, strict and lenient). */
export class CrlParseError extends PkiError<'malformed_crl'> {
  constructor(message: string) {
    super('malformed_crl', message);
  }
}
