/** Reading a CA brought in from elsewhere: its PKCS#8 key (plain, encrypted or DER), its certificates, and what they say of CA use. */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { fingerprintSha256 } from './certificate.ts';
import { keyUsageNames, extKeyUsageOids, isCaCertificate } from './certificate-info.ts';
import { bytesEqual, bytesToHex, children, content, DerError, integerValue, raw, readOne, STRICT, TAG } from './der.ts';
import { PkiError } from './errors.ts';
import { publicKeyFacts, type KeyAlgorithm } from './keys.ts';
import { buildName, formatName, type SubjectInput } from './names.ts';
import { OID } from './oids.ts';
import { parsePemBlocks, PemError } from './pem.ts';
import { algorithmIdentifier } from './signature-algorithms.ts';
import type { Signer } from './signer.ts';
import { decodeTimeDer } from './time.ts';
import { extensionOf, extensionValue, readCertificate } from './x509/certificate-reader.ts';
import { readRdns } from './x509/name-reader.ts';

export type CaImportErrorCode =
  | 'wrong_passphrase'
  | 'passphrase_required'
  | 'malformed_private_key'
  | 'unsupported_key'
  | 'malformed_certificate';

/** Why a key or certificate offered for import cannot be read. Messages never carry the key or the passphrase. */
export class CaImportError extends PkiError<CaImportErrorCode> {}

export interface ImportedPrivateKey {
  algorithm: KeyAlgorithm;
  /** Unencrypted PKCS#8 DER, for custody to wrap at once. */
  pkcs8Der: Uint8Array;
  /** The key's public half as SubjectPublicKeyInfo DER (node's canonical encoding). */
  spkiDer: Uint8Array;
}

const PKCS8_LABELS = ['PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'];

/** PEM text, or base64 of DER (JSON carries no bytes), or DER bytes: the DER blocks with one of `labels`. */
function derBlocks(
  input: string | Uint8Array,
  labels: string[],
  what: string,
  code: CaImportErrorCode,
): { label: string | null; der: Uint8Array }[] {
  if (input instanceof Uint8Array) {
    const text = Buffer.from(input).toString('latin1');
    if (!text.includes('-----BEGIN ')) return [{ label: null, der: input }];
    input = text;
  }
  if (input.includes('-----BEGIN ')) {
    let blocks: { label: string; der: Uint8Array }[];
    try {
      blocks = parsePemBlocks(input);
    } catch (e) {
      if (e instanceof PemError) throw new CaImportError(code, `${what}: ${e.message}`);
      throw e;
    }
    const found = blocks.filter((b) => labels.includes(b.label));
    if (!found.length) {
      const seen = blocks.map((b) => b.label).join(', ') || 'none';
      throw new CaImportError(code, `${what}: expected a PEM block labelled ${labels.join(' or ')} (found ${seen})`);
    }
    return found;
  }
  const compact = input.replace(/\s+/g, '');
  if (!compact || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw new CaImportError(code, `${what}: expected PEM, or base64 of DER`);
  }
  return [{ label: null, der: new Uint8Array(Buffer.from(compact, 'base64')) }];
}

/** Whether PKCS#8 DER is EncryptedPrivateKeyInfo (SEQUENCE { AlgorithmIdentifier, OCTET STRING }) rather than PrivateKeyInfo (version INTEGER first). */
function isEncryptedPkcs8(der: Uint8Array): boolean {
  try {
    const items = children(readOne(der, STRICT, TAG.SEQUENCE));
    return items.length === 2 && items[0].tag === TAG.SEQUENCE && items[1].tag === TAG.OCTET_STRING;
  } catch {
    return false;
  }
}

/**
 * A PKCS#8 private key: `-----BEGIN PRIVATE KEY-----`, `-----BEGIN ENCRYPTED PRIVATE KEY-----`
 * (PBES2, with `passphrase`), or DER (plain or encrypted; base64 in a string). Throws CaImportError:
 * `passphrase_required`, `wrong_passphrase`, `malformed_private_key`, `unsupported_key`.
 */
export function readPrivateKey(input: string | Uint8Array, passphrase?: string): ImportedPrivateKey {
  const blocks = derBlocks(input, PKCS8_LABELS, 'private key', 'malformed_private_key');
  if (blocks.length !== 1) throw new CaImportError('malformed_private_key', 'private key: give exactly one key');
  const { label, der } = blocks[0];
  const encrypted = label === 'ENCRYPTED PRIVATE KEY' || (label === null && isEncryptedPkcs8(der));
  if (encrypted && !passphrase) {
    throw new CaImportError('passphrase_required', 'the private key is encrypted: give its passphrase');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({
      key: Buffer.from(der),
      format: 'der',
      type: 'pkcs8',
      ...(encrypted ? { passphrase: passphrase! } : {}),
    });
  } catch {
    // OpenSSL cannot tell a wrong passphrase from a corrupt ciphertext; an encrypted key that does
    // not open is, in practice, the wrong passphrase.
    if (encrypted) throw new CaImportError('wrong_passphrase', 'the private key does not decrypt with this passphrase');
    throw new CaImportError('malformed_private_key', 'private key: not a PKCS#8 private key (convert with `openssl pkcs8 -topk8`)');
  }
  const publicKey = createPublicKey(key);
  let algorithm: KeyAlgorithm | null;
  try {
    algorithm = publicKeyFacts(publicKey).algorithm;
  } catch {
    algorithm = null;
  }
  if (!algorithm) {
    throw new CaImportError('unsupported_key', 'the key is not one Anvil signs with (EC P-256/P-384, RSA 2048/3072/4096, Ed25519)');
  }
  return {
    algorithm,
    pkcs8Der: new Uint8Array(key.export({ format: 'der', type: 'pkcs8' })),
    spkiDer: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
  };
}

/** A SubjectPublicKeyInfo in node's canonical DER, so that two encodings of one key compare equal. */
export function canonicalSpki(spkiDer: Uint8Array): Uint8Array | null {
  try {
    return new Uint8Array(
      createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' }).export({ format: 'der', type: 'spki' }),
    );
  } catch {
    return null;
  }
}

/** Whether two SubjectPublicKeyInfos are the same key. */
export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  const ca = canonicalSpki(a);
  const cb = canonicalSpki(b);
  return ca !== null && cb !== null && bytesEqual(ca, cb);
}

/** Every certificate in PEM text (CERTIFICATE blocks), base64 DER, or DER bytes; an empty or absent input is none. */
export function readCertificates(input: string | Uint8Array | undefined): Uint8Array[] {
  if (input === undefined || (typeof input === 'string' && !input.trim())) return [];
  const ders = derBlocks(input, ['CERTIFICATE'], 'certificate', 'malformed_certificate').map((b) => b.der);
  for (const der of ders) caCertificateFacts(der); // each must read
  return ders;
}

/** What an import needs to know of a CA certificate. */
export interface CaCertificateFacts {
  der: Uint8Array;
  subject: string;
  issuer: string;
  /** DER of the subject and issuer Names, hex, compared byte for byte (RFC 5280 path building). */
  subjectHex: string;
  issuerHex: string;
  spki: Uint8Array;
  isCA: boolean;
  /** basicConstraints pathLenConstraint, null when absent. */
  pathLen: number | null;
  keyUsage: string[];
  /** extKeyUsage OIDs, null when the extension is absent. */
  extKeyUsage: string[] | null;
  notBefore: Date;
  notAfter: Date;
  /** Subject equals issuer and the certificate verifies under its own key. */
  selfSigned: boolean;
  /** SubjectKeyIdentifier, hex, or null. */
  skiHex: string | null;
  serialHex: string;
  fingerprintSha256: string;
}

/** Reads a certificate strictly; throws CaImportError('malformed_certificate'). */
export function caCertificateFacts(der: Uint8Array): CaCertificateFacts {
  try {
    const c = readCertificate({ der });
    const subjectHex = bytesToHex(raw(c.subject));
    const issuerHex = bytesToHex(raw(c.issuer));
    const spki = new Uint8Array(raw(c.spki));
    let pathLen: number | null = null;
    const bc = extensionOf(c, OID.basicConstraints);
    if (bc) {
      const items = children(extensionValue(bc.value));
      const len = items.find((t) => t.tag === TAG.INTEGER);
      if (len) pathLen = Number(integerValue(content(len)));
    }
    const ski = extensionOf(c, OID.subjectKeyIdentifier);
    const facts: CaCertificateFacts = {
      der,
      subject: formatName(readRdns(c.subject)),
      issuer: formatName(readRdns(c.issuer)),
      subjectHex,
      issuerHex,
      spki,
      isCA: isCaCertificate(c),
      pathLen,
      keyUsage: keyUsageNames(c),
      extKeyUsage: extKeyUsageOids(c),
      notBefore: decodeTimeDer(c.notBefore.tag, content(c.notBefore)),
      notAfter: decodeTimeDer(c.notAfter.tag, content(c.notAfter)),
      selfSigned: false,
      skiHex: ski ? bytesToHex(content(extensionValue(ski.value))) : null,
      serialHex: bytesToHex(content(c.serial)),
      fingerprintSha256: fingerprintSha256(der),
    };
    facts.selfSigned = subjectHex === issuerHex && signedBy(der, spki);
    return facts;
  } catch (e) {
    if (e instanceof CaImportError) throw e;
    if (e instanceof DerError || e instanceof PkiError || e instanceof RangeError) {
      throw new CaImportError('malformed_certificate', `not a DER X.509 certificate: ${(e as Error).message}`);
    }
    throw e;
  }
}

/** Whether `certificateDer`'s signature verifies under the key `issuerSpki` (OpenSSL, through node). */
export function signedBy(certificateDer: Uint8Array, issuerSpki: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(issuerSpki), format: 'der', type: 'spki' });
    return new X509Certificate(Buffer.from(certificateDer)).verify(key);
  } catch {
    return false;
  }
}

/** Whether `facts` may sign certificates: CA:TRUE and keyCertSign (RFC 5280 4.2.1.9, 4.2.1.3). */
export function isSigningCa(facts: CaCertificateFacts): boolean {
  return facts.isCA && facts.keyUsage.includes('keyCertSign');
}

/**
 * Why a CA certificate is unfit to issue Anvil's end-entity certificates and sign their CRLs, or
 * null: it must sign certificates and CRLs (cRLSign), and an extKeyUsage on a CA, which OpenSSL
 * applies to the whole path, must allow TLS clients or servers.
 */
export function unfitForIssuing(facts: CaCertificateFacts): string | null {
  if (!facts.isCA) return 'basicConstraints is not CA:TRUE';
  for (const usage of ['keyCertSign', 'cRLSign']) {
    if (!facts.keyUsage.includes(usage)) return `keyUsage lacks ${usage}`;
  }
  const eku = facts.extKeyUsage;
  if (eku && !eku.some((oid) => ([OID.anyExtendedKeyUsage, OID.clientAuth, OID.serverAuth] as string[]).includes(oid))) {
    return 'extKeyUsage allows neither TLS clients nor servers';
  }
  return null;
}

/**
 * A PKCS#10 request for a CA key held by any Signer (software or a PKCS#11 token, whose key
 * never leaves it): subject only, no extensions (the external root's own configuration decides
 * the CA extensions it signs). Returns DER.
 */
export async function buildSignerCsr(params: { signer: Signer; subject: SubjectInput }): Promise<Uint8Array> {
  const { signer } = params;
  const csr = new pkijs.CertificationRequest();
  csr.version = 0;
  csr.subject = buildName(params.subject);
  csr.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(signer.publicKeySpki);
  csr.signatureAlgorithm = algorithmIdentifier(signer.signatureAlgorithm);
  // The first element of the request is the CertificationRequestInfo: what gets signed.
  const info = new Uint8Array((csr.toSchema(true) as asn1js.Sequence).valueBlock.value[0].toBER(false));
  csr.tbsView = info;
  csr.signatureValue = new asn1js.BitString({ valueHex: await signer.sign(info) });
  return new Uint8Array(csr.toSchema().toBER(false));
}
