/** Test oracle: the pkijs reference encoder of the TBSCertificate and the pkijs-based lint, kept to check the direct DER encoder and lintTbs byte for byte and finding for finding. */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  algorithmIdentifier,
  buildGeneralNames,
  buildName,
  derSequence,
  EXT_KEY_USAGE,
  keyIdentifier,
  keyUsageBits,
  lintCertificateFacts,
  OID,
  parseCertificate,
  sanCount,
  type CertificateParams,
  type KeyUsageName,
  type LintContext,
  type LintFinding,
  type Signer,
} from '../../src/index.ts';
import { toAsn1Time } from '../../src/time.ts';

/** The KeyUsage BIT STRING, DER: trailing zero bits dropped and counted as unused. */
export function keyUsageBitString(usages: KeyUsageName[]): asn1js.BitString {
  const { unused, bytes } = keyUsageBits(usages);
  return new asn1js.BitString({ unusedBits: unused, valueHex: bytes });
}

function extension(extnID: string, critical: boolean, value: asn1js.BaseBlock | { toSchema(): asn1js.BaseBlock }) {
  const schema = 'toSchema' in value ? value.toSchema() : value;
  return new pkijs.Extension({ extnID, critical, extnValue: schema.toBER(false) });
}

function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

/**
 * Builds the unsigned certificate as pkijs objects. The reference encoder: Anvil itself issues
 * with encodeTbsCertificate (src/certificate.ts), which test/api/issuance.test.ts ("the direct
 * DER paths agree with the pkijs reference") keeps byte-for-byte equal to this one.
 */
export function buildTbsCertificate(p: CertificateParams): pkijs.Certificate {
  const notBefore = wholeSeconds(p.notBefore);
  const notAfter = wholeSeconds(p.notAfter);
  if (notAfter <= notBefore) throw new Error('notAfter must be after notBefore');

  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: p.serial });
  cert.issuer = p.issuerName;
  cert.subject = buildName(p.subject);
  cert.notBefore = toAsn1Time(notBefore);
  cert.notAfter = toAsn1Time(notAfter);
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(p.subjectPublicKeySpki);

  const exts: pkijs.Extension[] = [];
  exts.push(
    extension(
      OID.basicConstraints,
      true,
      new pkijs.BasicConstraints(
        p.basicConstraints.ca
          ? { cA: true, ...(p.basicConstraints.pathLen !== undefined ? { pathLenConstraint: p.basicConstraints.pathLen } : {}) }
          : {},
      ),
    ),
  );
  exts.push(extension(OID.keyUsage, true, keyUsageBitString(p.keyUsage)));
  if (p.extKeyUsage?.length) {
    exts.push(extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: p.extKeyUsage.map((n) => EXT_KEY_USAGE[n]) })));
  }
  exts.push(extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: keyIdentifier(p.subjectPublicKeySpki) })));
  exts.push(
    extension(
      OID.authorityKeyIdentifier,
      false,
      new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: p.issuerKeyId }) }),
    ),
  );
  if (p.sans && sanCount(p.sans) > 0) {
    // An empty subject makes the SAN the only name, and then it must be critical (RFC 5280 4.2.1.6).
    const emptySubject = cert.subject.typesAndValues.length === 0;
    exts.push(extension(OID.subjectAltName, emptySubject, new pkijs.AltName({ altNames: buildGeneralNames(p.sans) })));
  }
  if (p.crlUrl) {
    exts.push(
      extension(
        OID.crlDistributionPoints,
        false,
        new pkijs.CRLDistributionPoints({
          distributionPoints: [new pkijs.DistributionPoint({ distributionPoint: [new pkijs.GeneralName({ type: 6, value: p.crlUrl })] })],
        }),
      ),
    );
  }
  const access: pkijs.AccessDescription[] = [];
  if (p.ocspUrl) {
    access.push(
      new pkijs.AccessDescription({ accessMethod: OID.ocsp, accessLocation: new pkijs.GeneralName({ type: 6, value: p.ocspUrl }) }),
    );
  }
  if (p.caIssuersUrl) {
    access.push(
      new pkijs.AccessDescription({
        accessMethod: OID.caIssuers,
        accessLocation: new pkijs.GeneralName({ type: 6, value: p.caIssuersUrl }),
      }),
    );
  }
  if (access.length) exts.push(extension(OID.authorityInfoAccess, false, new pkijs.InfoAccess({ accessDescriptions: access })));
  if (p.ocspNoCheck) exts.push(extension(OID.ocspNoCheck, false, new asn1js.Null()));
  cert.extensions = exts;
  return cert;
}

/** DER of the to-be-signed part, with the signature algorithm of `signer` written in. */
export function encodeTbs(cert: pkijs.Certificate, signer: Signer): Uint8Array {
  cert.signature = algorithmIdentifier(signer.signatureAlgorithm);
  cert.signatureAlgorithm = algorithmIdentifier(signer.signatureAlgorithm);
  const tbs = new Uint8Array(cert.encodeTBS().toBER(false));
  cert.tbsView = tbs;
  return tbs;
}

/** Parses the TBS alone (for linting before signing) by wrapping it with an empty signature. */
export function parseTbs(tbs: Uint8Array, sigAlgDer: Uint8Array): pkijs.Certificate {
  return parseCertificate(derSequence([tbs, sigAlgDer, Uint8Array.of(0x03, 0x01, 0x00)]));
}

/** lintTbs' rules over a pkijs parse of the certificate (the reference for the DER walk). */
export function lintCertificate(cert: pkijs.Certificate, ctx: LintContext): LintFinding[] {
  return lintCertificateFacts(
    {
      version: cert.version,
      serial: new Uint8Array(cert.serialNumber.valueBlock.valueHexView),
      notBefore: { date: cert.notBefore.value, utc: cert.notBefore.type === 0 },
      notAfter: { date: cert.notAfter.value, utc: cert.notAfter.type === 0 },
      extensions: (cert.extensions ?? []).map((e) => ({
        oid: e.extnID,
        critical: e.critical,
        value: new Uint8Array(e.extnValue.valueBlock.valueHexView),
      })),
      subjectAttributes: cert.subject.typesAndValues.length,
      cn: cert.subject.typesAndValues.find((tv) => tv.type === OID.commonName)?.value.valueBlock.value as string | undefined,
    },
    ctx,
  );
}
