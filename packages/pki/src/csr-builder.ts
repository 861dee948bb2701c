/** PKCS#10 requests built for a key the caller holds (the CLI). */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { KeyAlgorithm } from './keys.ts';
import { algorithmIdentifier } from './signature-algorithms.ts';
import { buildGeneralNames, buildName, sanCount, type Sans, type SubjectInput } from './names.ts';
import { OID } from './oids.ts';
import { SoftwareSigner } from './signer.ts';

/**
 * A PKCS#10 request (RFC 2986) for a key held by the caller: the subject, the SANs in an
 * extensionRequest attribute (PKCS#9), signed with the key itself as proof of possession.
 * Returns DER. Used by the CLI, which generates keys on the partner's machine, never on the server.
 */
export function buildCsr(params: {
  keyAlgorithm: KeyAlgorithm;
  privateKeyPkcs8: Uint8Array;
  subject: SubjectInput;
  sans: Sans;
}): Uint8Array {
  const signer = new SoftwareSigner(params.keyAlgorithm, params.privateKeyPkcs8);
  const csr = new pkijs.CertificationRequest();
  csr.version = 0;
  csr.subject = buildName(params.subject);
  csr.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(signer.publicKeySpki);
  if (sanCount(params.sans) > 0) {
    const san = new pkijs.Extension({
      extnID: OID.subjectAltName,
      // An empty subject makes the SAN critical (RFC 5280 4.2.1.6).
      critical: csr.subject.typesAndValues.length === 0,
      extnValue: new pkijs.GeneralNames({ names: buildGeneralNames(params.sans) }).toSchema().toBER(false),
    });
    const extensions = new pkijs.Extensions({ extensions: [san] });
    csr.attributes = [new pkijs.Attribute({ type: OID.extensionRequest, values: [extensions.toSchema()] })];
  }
  csr.signatureAlgorithm = algorithmIdentifier(signer.signatureAlgorithm);
  // The first element of the request is the CertificationRequestInfo: what gets signed.
  const info = new Uint8Array((csr.toSchema(true) as asn1js.Sequence).valueBlock.value[0].toBER(false));
  csr.tbsView = info;
  csr.signatureValue = new asn1js.BitString({ valueHex: signer.signSync(info) });
  return new Uint8Array(csr.toSchema().toBER(false));
}
