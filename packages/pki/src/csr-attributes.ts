/**
 * CSR attributes (RFC 7030 section 4.5.2): what an EST server's /csrattrs tells a client to put
 * in its certificate request.
 *
 *   CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
 *   AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }
 *   Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET SIZE (1..MAX) OF ANY }
 *
 * A bare OID asks for "something of this kind" (rsaEncryption: an RSA key); an attribute narrows
 * it (ecPublicKey with the curve OIDs the server accepts, RFC 7030's own example).
 */
import * as asn1js from 'asn1js';
import { PkiError } from './errors.ts';

/** One entry: a bare OID, or an attribute whose values are OIDs (the only values EST servers send in practice). */
export type CsrAttr = { oid: string } | { type: string; values: string[] };

export class CsrAttrsError extends PkiError<'invalid_csr_attrs'> {
  constructor(message: string) {
    super('invalid_csr_attrs', message);
  }
}

const DOTTED_OID = /^[0-2](\.(0|[1-9]\d*))+$/;

function oid(value: string): asn1js.ObjectIdentifier {
  if (typeof value !== 'string' || !DOTTED_OID.test(value)) throw new CsrAttrsError(`"${String(value)}" is not a dotted OID`);
  return new asn1js.ObjectIdentifier({ value });
}

/** DER of a CsrAttrs SEQUENCE, entries in the order given (an empty list is allowed: "nothing asked"). */
export function encodeCsrAttrs(items: CsrAttr[]): Uint8Array {
  const entries = items.map((item) => {
    if ('oid' in item) return oid(item.oid);
    if (!Array.isArray(item.values) || item.values.length === 0)
      throw new CsrAttrsError(`attribute ${item.type} needs at least one value (SET SIZE (1..MAX))`);
    return new asn1js.Sequence({ value: [oid(item.type), new asn1js.Set({ value: item.values.map(oid) })] });
  });
  return new Uint8Array(new asn1js.Sequence({ value: entries }).toBER());
}
