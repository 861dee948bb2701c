/** The strict certificate reader: the one TBSCertificate walk that lint and the revocation lookup share, and the facts the lookup needs. */
import { bytesToHex, decodeOid, DerCursor, TAG, type Tlv } from './der.ts';
import { OID } from './oids.ts';

/**
 * The few fields needed to find a certificate's issuer and ask about its revocation, read
 * straight from the DER with the strict reader: the judge reads them on every handshake, where
 * a full pkijs parse would cost more than the verdict itself.
 */
export interface CertificateFacts {
  serialHex: string;
  /** DER of the issuer and subject Names, hex, compared byte for byte. */
  issuerNameHex: string;
  subjectNameHex: string;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  /** The AKI key identifier, hex, or null when absent. */
  akiHex: string | null;
  /** URIs of the CRL distribution points' full names. */
  crlUrls: string[];
}

/** The fields of a TBSCertificate, as raw TLVs, and its extensions; what each caller reads of them is its own. */
export interface TbsCertificateFields {
  /** The [0] EXPLICIT version wrapper, when present. */
  version?: Tlv;
  serial: Tlv;
  signature: Tlv;
  issuer: Tlv;
  validity: Tlv;
  subject: Tlv;
  spki: Tlv;
  /** Extensions in order; `value` is the extnValue OCTET STRING. */
  extensions: Array<{ oid: string; critical: boolean; value: Tlv }>;
}

const EXTENSIONS = 0xa3;

/**
 * The one strict walk over a TBSCertificate (certificateFacts on every handshake, lintTbs on every
 * issuance): throws DerError on anything that is not DER in the shape RFC 5280 4.1 gives it.
 */
export function readTbsCertificate(tbs: DerCursor): TbsCertificateFields {
  const version = tbs.optional(0xa0);
  const serial = tbs.next(TAG.INTEGER, 'serialNumber');
  const signature = tbs.next(TAG.SEQUENCE, 'signature');
  const issuer = tbs.next(TAG.SEQUENCE, 'issuer');
  const validity = tbs.next(TAG.SEQUENCE, 'validity');
  const subject = tbs.next(TAG.SEQUENCE, 'subject');
  const spki = tbs.next(TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const extensions: TbsCertificateFields['extensions'] = [];
  while (!tbs.done) {
    const field = tbs.any('tbsCertificate field');
    if (field.tag !== EXTENSIONS) continue; // issuer/subject unique ids
    const list = tbs.enter(field);
    const exts = list.enter(list.next(TAG.SEQUENCE, 'extensions'));
    while (!exts.done) {
      const ext = exts.enter(exts.next(TAG.SEQUENCE, 'extension'));
      const oid = oidText(ext, ext.next(TAG.OID, 'extnID'));
      const critical = ext.optional(TAG.BOOLEAN);
      const value = ext.next(TAG.OCTET_STRING, 'extnValue');
      extensions.push({ oid, critical: critical !== undefined && ext.content(critical)[0] !== 0, value });
    }
  }
  return { ...(version ? { version } : {}), serial, signature, issuer, validity, subject, spki, extensions };
}

/** Throws DerError on anything that is not a DER certificate. */
export function certificateFacts(der: Uint8Array): CertificateFacts {
  const outer = DerCursor.of(der);
  const certificate = outer.enter(outer.next(TAG.SEQUENCE, 'certificate'));
  const tbs = certificate.enter(certificate.next(TAG.SEQUENCE, 'tbsCertificate'));
  const f = readTbsCertificate(tbs);
  let akiHex: string | null = null;
  const crlUrls: string[] = [];
  for (const e of f.extensions) {
    if (e.oid === OID.authorityKeyIdentifier) akiHex = readAkiKeyId(tbs, e.value);
    else if (e.oid === OID.crlDistributionPoints) crlUrls.push(...readCdpUris(tbs, e.value));
  }
  return {
    serialHex: bytesToHex(tbs.content(f.serial)),
    issuerNameHex: bytesToHex(tbs.raw(f.issuer)),
    subjectNameHex: bytesToHex(tbs.raw(f.subject)),
    spki: tbs.raw(f.spki),
    akiHex,
    crlUrls,
  };
}

function oidText(c: DerCursor, t: Tlv): string {
  return decodeOid(c.content(t));
}

function readAkiKeyId(c: DerCursor, value: Tlv): string | null {
  const aki = c.enter(value);
  const seq = aki.enter(aki.next(TAG.SEQUENCE, 'authorityKeyIdentifier'));
  const keyId = seq.optional(0x80);
  return keyId ? bytesToHex(seq.content(keyId)) : null;
}

function readCdpUris(c: DerCursor, value: Tlv): string[] {
  const uris: string[] = [];
  const holder = c.enter(value);
  const points = holder.enter(holder.next(TAG.SEQUENCE, 'cRLDistributionPoints'));
  while (!points.done) {
    const point = points.enter(points.next(TAG.SEQUENCE, 'DistributionPoint'));
    const name = point.optional(0xa0);
    if (!name) continue;
    const nameCursor = point.enter(name);
    const fullName = nameCursor.optional(0xa0);
    if (!fullName) continue;
    const names = nameCursor.enter(fullName);
    while (!names.done) {
      const gn = names.any('GeneralName');
      if (gn.tag === 0x86) uris.push(Buffer.from(names.content(gn)).toString('latin1'));
    }
  }
  return uris;
}
