/** Reads a CRL for display: a thin adapter over the engine's parser and signature check. */
import { CrlParseError, nameDerToString, parseCrl as parseCrlDer, pemToDerList, readCertificate } from '@anvil/pki';
import { CliError } from './errors.ts';

export interface CrlEntry {
  serial: string;
  revocationDate: Date;
  reason: string | null;
}

export interface CrlInfo {
  issuer: string;
  number: string | null;
  thisUpdate: Date;
  nextUpdate: Date | null;
  signatureAlgorithm: string;
  entries: CrlEntry[];
  /** Set when an issuer certificate was given: whether the CRL's signature verifies with its key. */
  signatureValid?: boolean;
}

/** Accepts DER or PEM ("X509 CRL"); checks the signature when the issuer certificate is given. */
export function parseCrl(bytes: Uint8Array, issuerCertificateDer?: Uint8Array): CrlInfo {
  let crl;
  try {
    const issuerSpki = issuerCertificateDer ? readCertificate({ der: fromMaybePem(issuerCertificateDer, 'CERTIFICATE') }).spki : undefined;
    const issuerSpkiDer = issuerSpki?.buf.subarray(issuerSpki.start, issuerSpki.end);
    crl = parseCrlDer(fromMaybePem(bytes, 'X509 CRL'), { issuerSpkiDer });
  } catch (err) {
    if (err instanceof CrlParseError) throw new CliError(`that is not a CRL Anvil can read: ${err.message}`);
    if (err instanceof CliError) throw err;
    throw new CliError('that is not a CRL (expected DER or PEM "X509 CRL")');
  }
  let issuer: string;
  try {
    // The CRL reader only checks that the issuer is a SEQUENCE; the Name walker checks what is inside.
    issuer = nameDerToString(crl.issuerNameDer);
  } catch {
    throw new CliError('that is not a CRL Anvil can read: its issuer is not an X.509 Name');
  }
  return {
    issuer,
    number: crl.number === undefined ? null : crl.number.toString(),
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate ?? null,
    signatureAlgorithm: crl.signatureAlgorithmOid,
    // The engine reports a missing reason extension as 'unspecified'; show it as no reason, as openssl does.
    entries: crl.entries.map((e) => ({
      serial: e.serialHex,
      revocationDate: e.revokedAt,
      reason: e.reason === 'unspecified' ? null : e.reason,
    })),
    ...(crl.signatureValid === undefined ? {} : { signatureValid: crl.signatureValid }),
  };
}

function fromMaybePem(bytes: Uint8Array, label: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  if (!text.includes('-----BEGIN')) return bytes;
  try {
    return pemToDerList(text, [label])[0];
  } catch {
    throw new CliError(`no PEM block labelled ${label}`);
  }
}
