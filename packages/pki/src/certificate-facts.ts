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

const EXTENSIONS = 0xa3;

/** Throws DerError on anything that is not a DER certificate. */
export function certificateFacts(der: Uint8Array): CertificateFacts {
  const outer = DerCursor.of(der);
  const certificate = outer.enter(outer.next(TAG.SEQUENCE, 'certificate'));
  const tbs = certificate.enter(certificate.next(TAG.SEQUENCE, 'tbsCertificate'));
  tbs.optional(0xa0); // version
  const serial = tbs.next(TAG.INTEGER, 'serialNumber');
  tbs.next(TAG.SEQUENCE, 'signature');
  const issuer = tbs.next(TAG.SEQUENCE, 'issuer');
  tbs.next(TAG.SEQUENCE, 'validity');
  const subject = tbs.next(TAG.SEQUENCE, 'subject');
  const spki = tbs.next(TAG.SEQUENCE, 'subjectPublicKeyInfo');
  let akiHex: string | null = null;
  const crlUrls: string[] = [];
  while (!tbs.done) {
    const field = tbs.any('tbsCertificate field');
    if (field.tag !== EXTENSIONS) continue; // issuer/subject unique ids
    const list = tbs.enter(field);
    const extensions = list.enter(list.next(TAG.SEQUENCE, 'extensions'));
    while (!extensions.done) {
      const ext = extensions.enter(extensions.next(TAG.SEQUENCE, 'extension'));
      const oid = oidText(ext, ext.next(TAG.OID, 'extnID'));
      ext.optional(TAG.BOOLEAN);
      const value = ext.next(TAG.OCTET_STRING, 'extnValue');
      if (oid === OID.authorityKeyIdentifier) akiHex = readAkiKeyId(ext, value);
      else if (oid === OID.crlDistributionPoints) crlUrls.push(...readCdpUris(ext, value));
    }
  }
  return {
    serialHex: bytesToHex(tbs.content(serial)),
    issuerNameHex: bytesToHex(tbs.raw(issuer)),
    subjectNameHex: bytesToHex(tbs.raw(subject)),
    spki: tbs.raw(spki),
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
