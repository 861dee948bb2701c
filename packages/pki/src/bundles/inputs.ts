/**
 * Checks on what callers hand to the bundle builders. Bundles end up in other people's
 * software (Java keystores, Windows, nginx), where a bad input surfaces as an opaque
 * "invalid keystore format"; so every builder refuses bad input here, naming the field.
 */
import { PkiError } from '../errors.ts';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export class BundleError extends PkiError<'invalid_bundle_input'> {
  constructor(message: string) {
    super('invalid_bundle_input', message);
  }
}

/** Throws unless `value` is a non-empty byte array; `what` names the field in the message. */
export function requireBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new BundleError(`${what} must be DER bytes (a Uint8Array), got ${describe(value)}`);
  }
  if (value.byteLength === 0) throw new BundleError(`${what} is empty`);
  return value;
}

/**
 * Parses one DER certificate. PEM is refused with a pointer to the fix rather than a parse
 * failure, because handing PEM text over as bytes is the mistake callers actually make.
 */
export function readCertificate(value: unknown, what: string): pkijs.Certificate {
  const der = requireBytes(value, what);
  if (looksLikePem(der)) {
    throw new BundleError(`${what} is PEM text; pass the DER bytes (see pemToDerList)`);
  }
  // fromBER itself throws on some malformed values (a GeneralizedTime that is not a date), so it
  // sits inside the try with the schema check.
  try {
    const asn1 = asn1js.fromBER(der);
    // asn1js parses a prefix and ignores the rest; trailing bytes mean it was not one certificate.
    if (asn1.offset === der.byteLength) return new pkijs.Certificate({ schema: asn1.result });
  } catch {
    // reported below
  }
  throw new BundleError(`${what} is not a DER X.509 certificate`);
}

/** The DER SubjectPublicKeyInfo of a parsed certificate. */
export function certificateSpki(cert: pkijs.Certificate): Uint8Array {
  return new Uint8Array(cert.subjectPublicKeyInfo.toSchema().toBER());
}

function looksLikePem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 64)).toString('latin1').trimStart().startsWith('-----BEGIN');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
