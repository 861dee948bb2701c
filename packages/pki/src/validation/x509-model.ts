/**
 * Certificates and CRLs decoded into the facts OpenSSL 3.0's verifier works from: the cached
 * extension flags of x509v3_cache_extensions (EXFLAG_*), key usage as OpenSSL's bit mask, the
 * exact DER of names, algorithm identifiers and key identifiers. The judge reproduces
 * X509_verify_cert over these, so every field here mirrors one OpenSSL reads.
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { DerError, LENIENT, TAG, bytesEqual, bytesToHex, children, content, integerValue, oidOf, raw, readOne, type Tlv } from '../der.ts';
import { canonRdn, parseNameTlv, type NameModel } from './x509-name.ts';
import { readAttribute } from '../x509/name-reader.ts';
import { MissingFieldError, extensionValue, walkCertificate } from '../x509/certificate-reader.ts';
import { readCrlEntry, walkCrl } from '../x509/crl-reader.ts';
import { CertificateParseError, CrlParseError } from '../errors.ts';
import { KEY_USAGE_BITS, OID } from '../oids.ts';
import { HASH_BY_OID, KEY_FAMILY_BY_OID, signatureAlgorithmByOid, type KeyFamily } from '../signature-algorithms.ts';

// ---- EXFLAG_* (crypto/x509v3.h) -------------------------------------------------------------
export const EXFLAG = {
  BCONS: 0x1,
  KUSAGE: 0x2,
  XKUSAGE: 0x4,
  NSCERT: 0x8,
  CA: 0x10,
  SI: 0x20,
  V1: 0x40,
  INVALID: 0x80,
  CRITICAL: 0x200,
  PROXY: 0x400,
  SS: 0x2000,
} as const;

// ---- KU_* (OpenSSL's layout: first octet in the low byte) ----------------------------------
export const KU = {
  DIGITAL_SIGNATURE: 0x0080,
  NON_REPUDIATION: 0x0040,
  KEY_ENCIPHERMENT: 0x0020,
  DATA_ENCIPHERMENT: 0x0010,
  KEY_AGREEMENT: 0x0008,
  KEY_CERT_SIGN: 0x0004,
  CRL_SIGN: 0x0002,
  ENCIPHER_ONLY: 0x0001,
  DECIPHER_ONLY: 0x8000,
} as const;

/** Key usage names with their OpenSSL mask, in bit order (from the one KEY_USAGE_BITS table). */
export const KU_NAMES: Array<[number, string]> = Object.entries(KEY_USAGE_BITS).map(([name, bit]) => [
  bit < 8 ? 0x80 >> bit : 0x8000 >> (bit - 8),
  name,
]);

export const XKU = {
  SSL_SERVER: 0x1,
  SSL_CLIENT: 0x2,
  SMIME: 0x4,
  CODE_SIGN: 0x8,
  SGC: 0x10,
  OCSP_SIGN: 0x20,
  TIMESTAMP: 0x40,
  DVCS: 0x80,
  ANYEKU: 0x100,
} as const;

const EKU_BITS: Record<string, number> = {
  [OID.serverAuth]: XKU.SSL_SERVER,
  [OID.clientAuth]: XKU.SSL_CLIENT,
  [OID.emailProtection]: XKU.SMIME,
  [OID.codeSigning]: XKU.CODE_SIGN,
  [OID.netscapeSgc]: XKU.SGC,
  [OID.microsoftSgc]: XKU.SGC,
  [OID.ocspSigning]: XKU.OCSP_SIGN,
  [OID.timeStamping]: XKU.TIMESTAMP,
  [OID.dvcs]: XKU.DVCS,
  [OID.anyExtendedKeyUsage]: XKU.ANYEKU,
};

export const NS = { SSL_CLIENT: 0x80, SSL_SERVER: 0x40, SSL_CA: 0x04, ANY_CA: 0x07 } as const;

/** Reason bits of CRL distribution points / IDP onlySomeReasons (CRLDP_ALL_REASONS). */
export const CRLDP_ALL_REASONS = 0x807f;

/**
 * Extensions OpenSSL 3.0 "supports" (X509_supported_extension): a critical extension outside
 * this list makes the certificate fail with X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION.
 */
const SUPPORTED_CRITICAL = new Set<string>([
  OID.nsCertType,
  OID.keyUsage,
  OID.subjectAltName,
  OID.basicConstraints,
  OID.certificatePolicies,
  OID.crlDistributionPoints,
  OID.extKeyUsage,
  OID.sbgpIpAddrBlock,
  OID.sbgpAutonomousSysNum,
  OID.policyConstraints,
  OID.proxyCertInfo,
  OID.nameConstraints,
  OID.policyMappings,
  OID.inhibitAnyPolicy,
]);

// ---- GeneralName ----------------------------------------------------------------------------
export type GeneralName =
  | { kind: 'email' | 'dns' | 'uri'; value: string; der: Uint8Array }
  | { kind: 'ip'; bytes: Uint8Array; der: Uint8Array }
  | { kind: 'dirName'; name: NameModel; der: Uint8Array }
  | { kind: 'other'; tagNumber: number; der: Uint8Array };

export function parseGeneralName(t: Tlv): GeneralName {
  const n = t.tag & 0x1f;
  const der = raw(t);
  switch (n) {
    case 1:
      return { kind: 'email', value: Buffer.from(content(t)).toString('latin1'), der };
    case 2:
      return { kind: 'dns', value: Buffer.from(content(t)).toString('latin1'), der };
    case 6:
      return { kind: 'uri', value: Buffer.from(content(t)).toString('latin1'), der };
    case 7:
      return { kind: 'ip', bytes: content(t), der };
    case 4: {
      const inner = children(t);
      if (inner.length !== 1) throw new DerError('directoryName must hold one Name');
      return { kind: 'dirName', name: parseNameTlv(inner[0]), der };
    }
    default:
      return { kind: 'other', tagNumber: n, der };
  }
}

export function parseGeneralNames(t: Tlv): GeneralName[] {
  return children(t).map(parseGeneralName);
}

/** GENERAL_NAME_cmp: directory names compare canonically, everything else byte for byte. */
export function generalNamesEqual(a: GeneralName, b: GeneralName): boolean {
  if (a.kind === 'dirName' && b.kind === 'dirName') return a.name.canon === b.name.canon;
  return a.kind === b.kind && bytesEqual(a.der, b.der);
}

// ---- shared pieces --------------------------------------------------------------------------
export interface TimeModel {
  /** Seconds since the epoch, or null when OpenSSL 3.0 would call the field malformed. */
  epoch: number | null;
  iso: string | null;
}

/** X509_cmp_time's format rule (RFC 5280 only: YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ). */
export function parseTime(t: Tlv): TimeModel {
  const s = Buffer.from(content(t)).toString('latin1');
  const ok = (t.tag === TAG.UTC_TIME && s.length === 13) || (t.tag === TAG.GENERALIZED_TIME && s.length === 15);
  if (!ok || !/^\d+Z$/.test(s)) return { epoch: null, iso: null };
  let year: number;
  let rest: string;
  if (t.tag === TAG.UTC_TIME) {
    const yy = Number(s.slice(0, 2));
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    rest = s.slice(2);
  } else {
    year = Number(s.slice(0, 4));
    rest = s.slice(4);
  }
  const [mo, d, h, mi, se] = [0, 2, 4, 6, 8].map((i) => Number(rest.slice(i, i + 2)));
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) return { epoch: null, iso: null };
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  if (new Date(ms).getUTCDate() !== d) return { epoch: null, iso: null };
  return { epoch: Math.floor(ms / 1000), iso: new Date(ms).toISOString() };
}

export interface AkidModel {
  keyId?: Uint8Array;
  issuerDirName?: NameModel;
  serial?: bigint;
}

function parseAkid(value: Tlv): AkidModel {
  const akid: AkidModel = {};
  for (const c of children(value)) {
    if (c.tag === 0x80) akid.keyId = content(c);
    else if (c.tag === 0xa1) {
      const dir = parseGeneralNames(c).find((g) => g.kind === 'dirName');
      if (dir && dir.kind === 'dirName') akid.issuerDirName = dir.name;
    } else if (c.tag === 0x82) akid.serial = integerValue(content(c));
    else throw new DerError('unexpected field in AuthorityKeyIdentifier');
  }
  return akid;
}

export interface DistPointName {
  /** 0: fullName, 1: nameRelativeToCRLIssuer (expanded against the issuer into `dpname`). */
  type: 0 | 1;
  fullName?: GeneralName[];
  dpname?: string; // canonical form of the expanded Name
}

export interface DistPoint {
  distpoint?: DistPointName;
  reasons: number;
  crlIssuer?: GeneralName[];
}

function bitsMask(bitString: Tlv): number {
  const c = content(bitString);
  if (c.length === 0) throw new DerError('empty BIT STRING');
  let v = 0;
  if (c.length > 1) v = c[1];
  if (c.length > 2) v |= c[2] << 8;
  return v;
}

function parseDistPointName(t: Tlv, issuer: NameModel): DistPointName {
  // DistributionPointName ::= CHOICE { fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] RDN }
  const inner = children(t);
  if (inner.length !== 1) throw new DerError('DistributionPointName must be one CHOICE');
  const c = inner[0];
  if (c.tag === 0xa0) return { type: 0, fullName: parseGeneralNames(c) };
  if (c.tag === 0xa1) {
    // DIST_POINT_set_dpname: the full name is the CRL issuer's name plus this RDN.
    const rdnCanon = canonRdn(children(c).map(readAttribute));
    return { type: 1, dpname: issuer.canon ? `${issuer.canon}\u0002${rdnCanon}` : rdnCanon };
  }
  throw new DerError('unexpected DistributionPointName');
}

function parseCrlDp(value: Tlv, issuer: NameModel): DistPoint[] {
  return children(value).map((dp) => {
    const out: DistPoint = { reasons: CRLDP_ALL_REASONS };
    for (const f of children(dp)) {
      if (f.tag === 0xa0) out.distpoint = parseDistPointName(f, issuer);
      else if (f.tag === 0x81) {
        const c = content(f);
        let r = c.length > 1 ? c[1] : 0;
        if (c.length > 2) r |= c[2] << 8;
        out.reasons = r & CRLDP_ALL_REASONS;
      } else if (f.tag === 0xa2) out.crlIssuer = parseGeneralNames(f);
      else throw new DerError('unexpected field in DistributionPoint');
    }
    return out;
  });
}

export interface GeneralSubtree {
  base: GeneralName;
  minimumValid: boolean; // minimum absent or zero, maximum absent (nc_minmax_valid)
}

export interface NameConstraintsModel {
  permitted: GeneralSubtree[];
  excluded: GeneralSubtree[];
}

function parseSubtrees(t: Tlv): GeneralSubtree[] {
  return children(t).map((st) => {
    const [base, ...rest] = children(st);
    let minimumValid = true;
    for (const r of rest) {
      if (r.tag === 0x80) {
        if (integerValue(content(r)) !== 0n) minimumValid = false;
      } else if (r.tag === 0x81) minimumValid = false;
    }
    return { base: parseGeneralName(base), minimumValid };
  });
}

function parseNameConstraints(value: Tlv): NameConstraintsModel {
  const nc: NameConstraintsModel = { permitted: [], excluded: [] };
  for (const c of children(value)) {
    if (c.tag === 0xa0) nc.permitted = parseSubtrees(c);
    else if (c.tag === 0xa1) nc.excluded = parseSubtrees(c);
    else throw new DerError('unexpected field in NameConstraints');
  }
  return nc;
}

// ---- keys and signature algorithms ----------------------------------------------------------
export interface SignatureSpec {
  oid: string;
  family: KeyFamily | null; // null: algorithm OpenSSL cannot map to a key type
  hash: string | null;
  secbits: number;
  pss?: { saltLength: number };
}

function signatureSpec(algId: Tlv): SignatureSpec {
  const [oidT, params] = children(algId);
  const oid = oidOf(oidT);
  const info = signatureAlgorithmByOid(oid);
  if (!info) return { oid, family: null, hash: null, secbits: 0 };
  if (info.family !== 'RSA-PSS') return { oid, family: info.family, hash: info.hash, secbits: info.secbits };
  // RSASSA-PSS-params: hashAlgorithm [0] default SHA-1, maskGen [1], saltLength [2] default 20
  let hash = 'sha1';
  let secbits = 63;
  let saltLength = 20;
  if (params && params.tag === TAG.SEQUENCE) {
    for (const f of children(params)) {
      if (f.tag === 0xa0) {
        const h = HASH_BY_OID[oidOf(children(children(f)[0])[0])];
        if (h) [hash, secbits] = h;
      } else if (f.tag === 0xa2) saltLength = Number(integerValue(content(children(f)[0])));
    }
  }
  return { oid, family: 'RSA-PSS', hash, secbits, pss: { saltLength } };
}

export interface KeyModel {
  spki: Uint8Array;
  family: KeyFamily;
  /** EC key with explicit curve parameters (X509_V_ERR_EC_KEY_EXPLICIT_PARAMS). */
  explicitCurve: boolean;
  /** EVP_PKEY_get_security_bits, computed from the encoding; 0 when unknown. */
  securityBits: number;
  /** The SubjectPublicKeyInfo decodes as a key of a known type (OpenSSL: X509_get0_pubkey != NULL). */
  valid: boolean;
  description: string;
  /** Cheaper import than DER for node (OpenSSL 3's DER decoders cost ~0.3 ms per key). */
  jwk?: JsonWebKey;
  /** Node's key, made on first use (only issuer keys are ever needed). */
  object?: KeyObject | null;
}

/** ossl_ifc_ffc_compute_security_bits (SP 800-56B estimate with OpenSSL's canonical values). */
function ifcSecurityBits(n: number): number {
  const canonical: Record<number, number> = { 2048: 112, 3072: 128, 4096: 152, 6144: 176, 7680: 192, 8192: 200, 15360: 256 };
  if (canonical[n]) return canonical[n];
  if (n < 8) return 0;
  const x = n * Math.LN2;
  const lx = Math.log(x);
  const y = Math.floor((1.923 * Math.cbrt(x * lx * lx) - 4.69) / Math.LN2);
  return Math.min((y + 4) & ~7, Math.floor(n / 2));
}

const CURVES: Record<string, { name: string; bits: number; bytes: number }> = {
  [OID.p256]: { name: 'P-256', bits: 256, bytes: 32 },
  [OID.p384]: { name: 'P-384', bits: 384, bytes: 48 },
  [OID.p521]: { name: 'P-521', bits: 521, bytes: 66 },
  [OID.secp256k1]: { name: 'secp256k1', bits: 256, bytes: 32 },
  [OID.p224]: { name: 'P-224', bits: 224, bytes: 28 },
};

function unsignedBits(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.length - i === 0 ? 0 : (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]));
}

const b64u = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

function parseKey(spkiT: Tlv): KeyModel {
  const spki = raw(spkiT);
  const [algId, bitsT] = children(spkiT);
  const [oidT, params] = children(algId);
  const family = KEY_FAMILY_BY_OID[oidOf(oidT)] ?? 'unknown';
  const m: KeyModel = { spki, family, explicitCurve: false, securityBits: 0, valid: false, description: family };
  if (!bitsT || bitsT.tag !== TAG.BIT_STRING) return m;
  const keyBits = content(bitsT).subarray(1);
  try {
    if (family === 'EC') {
      if (params?.tag === TAG.SEQUENCE) {
        m.explicitCurve = true;
        m.valid = true;
        m.description = 'EC (explicit parameters)';
        return m;
      }
      const curve = params?.tag === TAG.OID ? CURVES[oidOf(params)] : undefined;
      if (!curve) return m;
      m.securityBits = Math.floor(curve.bits / 2);
      m.description = `EC ${curve.name}`;
      m.valid = true;
      if (keyBits[0] === 4 && keyBits.length === 1 + 2 * curve.bytes)
        m.jwk = { kty: 'EC', crv: curve.name, x: b64u(keyBits.subarray(1, 1 + curve.bytes)), y: b64u(keyBits.subarray(1 + curve.bytes)) };
    } else if (family === 'RSA' || family === 'RSA-PSS') {
      const [n, e] = children(readOne(keyBits, LENIENT, TAG.SEQUENCE));
      const bits = unsignedBits(content(n));
      m.securityBits = ifcSecurityBits(bits);
      m.description = `${family} ${bits}`;
      m.valid = true;
      if (family === 'RSA') m.jwk = { kty: 'RSA', n: b64u(content(n).subarray(content(n)[0] === 0 ? 1 : 0)), e: b64u(content(e)) };
    } else if (family === 'DSA') {
      const p = params ? children(params)[0] : undefined;
      const bits = p ? unsignedBits(content(p)) : 0;
      m.securityBits = ifcSecurityBits(bits);
      m.description = `DSA ${bits}`;
      m.valid = bits > 0;
    } else if (family === 'Ed25519' || family === 'Ed448') {
      m.securityBits = family === 'Ed25519' ? 128 : 224;
      m.valid = keyBits.length === (family === 'Ed25519' ? 32 : 57);
      if (m.valid) m.jwk = { kty: 'OKP', crv: family, x: b64u(keyBits) };
    }
  } catch {
    m.valid = false;
  }
  return m;
}

/** The key as node:crypto needs it; null when it cannot be loaded. */
export function keyObjectOf(key: KeyModel): KeyObject | null {
  if (key.object !== undefined) return key.object;
  let obj: KeyObject | null = null;
  if (key.valid) {
    try {
      obj = key.jwk
        ? createPublicKey({ key: key.jwk, format: 'jwk' })
        : createPublicKey({ key: Buffer.from(key.spki), format: 'der', type: 'spki' });
    } catch {
      obj = null;
    }
  }
  key.object = obj;
  return obj;
}

// ---- certificates ---------------------------------------------------------------------------
export interface CertModel {
  der: Uint8Array;
  fingerprint: string;
  tbs: Uint8Array;
  version: number; // 0 = v1
  serial: bigint;
  serialHex: string;
  innerSigAlg: Uint8Array;
  outerSigAlg: Uint8Array;
  sig: SignatureSpec;
  signature: Uint8Array; // BIT STRING content without the unused-bits octet
  signatureUnusedBits: number;
  issuer: NameModel;
  subject: NameModel;
  notBefore: TimeModel;
  notAfter: TimeModel;
  key: KeyModel;
  flags: number;
  pathlen: number; // -1 when absent
  ku: number;
  xku: number;
  ekuOids: string[] | null;
  nscert: number;
  skid?: Uint8Array;
  akid?: AkidModel;
  san: GeneralName[] | null;
  crldp: DistPoint[];
  nc?: NameConstraintsModel;
  /** Extensions whose value did not decode, with the reason (cause of EXFLAG_INVALID). */
  invalidReasons: string[];
  criticalUnhandled: string[];
}

/** The judge's decode failure is the engine's one certificate parse error (kept under its old name). */

export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** ossl_x509_likely_issued's last test: the issuer key type can make the subject's signature. */
export function sigAlgMatchesKey(key: KeyModel, sig: SignatureSpec): boolean {
  if (!key.valid || sig.family === null) return false;
  if (sig.family === key.family) return true;
  return sig.family === 'RSA-PSS' && key.family === 'RSA';
}

/** X509_check_akid: every identifier the AKID carries must match the issuer. */
export function akidMatches(issuer: CertModel, akid: AkidModel | undefined): boolean {
  if (!akid) return true;
  if (akid.keyId && issuer.skid && !bytesEqual(akid.keyId, issuer.skid)) return false;
  if (akid.serial !== undefined && akid.serial !== issuer.serial) return false;
  if (akid.issuerDirName && akid.issuerDirName.canon !== issuer.issuer.canon) return false;
  return true;
}

export function parseCertificateModel(der: Uint8Array, fingerprint = sha256Hex(der)): CertModel {
  try {
    return decodeCertificate(der, fingerprint);
  } catch (e) {
    throw new CertificateParseError(`certificate does not decode: ${decodeFailure(e)}`);
  }
}

const MISSING_FIELD = 'a required field is missing or is not what the structure needs there';

/**
 * The reason shown for a decode failure. The decoders index child lists without checking every
 * length, so a structure that ends early surfaces as a TypeError on `undefined`: that means a
 * required field is missing, and the JS message would tell the reader nothing.
 */
function decodeFailure(e: unknown): string {
  if (e instanceof MissingFieldError) return MISSING_FIELD;
  if (e instanceof DerError) return e.message;
  if (e instanceof TypeError) return MISSING_FIELD;
  return 'malformed structure';
}

function decodeCertificate(der: Uint8Array, fingerprint: string): CertModel {
  const f = walkCertificate({ der, mode: 'lenient' });
  const version = f.versionNumber;
  const sigContent = content(f.signatureValue);
  const issuer = parseNameTlv(f.issuer);
  const subject = parseNameTlv(f.subject);
  const serialBytes = content(f.serial);

  const m: CertModel = {
    der,
    fingerprint,
    tbs: raw(f.tbs),
    version,
    serial: integerValue(serialBytes),
    serialHex: bytesToHex(serialBytes),
    innerSigAlg: raw(f.signature),
    outerSigAlg: raw(f.signatureAlgorithm),
    sig: signatureSpec(f.signature),
    signature: sigContent.subarray(1),
    signatureUnusedBits: sigContent[0] ?? 0,
    issuer,
    subject,
    notBefore: parseTime(f.notBefore),
    notAfter: parseTime(f.notAfter),
    key: parseKey(f.spki),
    flags: 0,
    pathlen: -1,
    ku: 0,
    xku: 0,
    ekuOids: null,
    nscert: 0,
    san: null,
    crldp: [],
    invalidReasons: [],
    criticalUnhandled: [],
  };
  if (version === 0) m.flags |= EXFLAG.V1;

  const seen = new Set<string>();
  for (const { oid, critical, value } of f.extensions) {
    if (critical && !SUPPORTED_CRITICAL.has(oid)) {
      m.flags |= EXFLAG.CRITICAL;
      m.criticalUnhandled.push(oid);
    }
    if (seen.has(oid)) {
      // X509_get_ext_d2i refuses duplicates, which x509v3_cache_extensions records as invalid.
      m.invalidReasons.push(`duplicate extension ${oid}`);
      continue;
    }
    seen.add(oid);
    try {
      applyExtension(m, oid, extensionValue(value));
    } catch (err) {
      m.invalidReasons.push(`extension ${oid}: ${(err as Error).message}`);
    }
  }
  if (m.invalidReasons.length) m.flags |= EXFLAG.INVALID;

  // Self-issued, and self-signed as x509v3_cache_extensions decides it (no signature check).
  if (subject.canon === issuer.canon) {
    m.flags |= EXFLAG.SI;
    if (akidMatches(m, m.akid) && sigAlgMatchesKey(m.key, m.sig)) m.flags |= EXFLAG.SS;
  }
  return m;
}

function applyExtension(m: CertModel, oid: string, v: Tlv): void {
  switch (oid) {
    case OID.basicConstraints: {
      const f = children(v);
      let idx = 0;
      if (f[idx]?.tag === TAG.BOOLEAN) {
        if (content(f[idx])[0]) m.flags |= EXFLAG.CA;
        idx++;
      }
      if (f[idx]?.tag === TAG.INTEGER) {
        const p = integerValue(content(f[idx]));
        if (p < 0n) throw new DerError('negative pathLenConstraint');
        m.pathlen = Number(p);
      }
      m.flags |= EXFLAG.BCONS;
      break;
    }
    case OID.keyUsage: {
      m.ku = bitsMask(v);
      m.flags |= EXFLAG.KUSAGE;
      if (m.ku === 0) throw new DerError('empty key usage');
      break;
    }
    case OID.extKeyUsage: {
      m.ekuOids = children(v).map(oidOf);
      for (const o of m.ekuOids) m.xku |= EKU_BITS[o] ?? 0;
      m.flags |= EXFLAG.XKUSAGE;
      break;
    }
    case OID.nsCertType: {
      const c = content(v);
      m.nscert = c.length > 1 ? c[1] : 0;
      m.flags |= EXFLAG.NSCERT;
      break;
    }
    case OID.subjectAltName:
      m.san = parseGeneralNames(v);
      break;
    case OID.subjectKeyIdentifier:
      if (v.tag !== TAG.OCTET_STRING) throw new DerError('SKI is not an OCTET STRING');
      m.skid = content(v);
      break;
    case OID.authorityKeyIdentifier:
      m.akid = parseAkid(v);
      break;
    case OID.crlDistributionPoints:
      m.crldp = parseCrlDp(v, m.issuer);
      break;
    case OID.nameConstraints:
      m.nc = parseNameConstraints(v);
      break;
    case OID.proxyCertInfo:
      m.flags |= EXFLAG.PROXY;
      break;
    default:
      break;
  }
}

// ---- CRLs -----------------------------------------------------------------------------------
export const IDP = {
  PRESENT: 0x1,
  INVALID: 0x2,
  ONLYUSER: 0x4,
  ONLYCA: 0x8,
  ONLYATTR: 0x10,
  INDIRECT: 0x20,
  REASONS: 0x40,
} as const;

export interface CrlEntryModel {
  serial: bigint;
  serialHex: string;
  revokedAt: TimeModel;
  /** -1 when the entry has no reasonCode (CRL_REASON_NONE). */
  reason: number;
  /** certificateIssuer entry extension (indirect CRLs). */
  certIssuer?: GeneralName[];
}

export interface CrlModel {
  der: Uint8Array;
  fingerprint: string;
  tbs: Uint8Array;
  innerSigAlg: Uint8Array;
  outerSigAlg: Uint8Array;
  sig: SignatureSpec;
  signature: Uint8Array;
  signatureUnusedBits: number;
  issuer: NameModel;
  lastUpdate: TimeModel;
  nextUpdate?: TimeModel;
  entries: Map<bigint, CrlEntryModel[]>;
  akid?: AkidModel;
  crlNumber?: bigint;
  baseCrlNumber?: bigint;
  idpFlags: number;
  idpReasons: number;
  idpDistpoint?: DistPointName;
  /** EXFLAG_CRITICAL: an unhandled critical CRL or entry extension. */
  critical: boolean;
  invalid: boolean;
}

/** The judge's CRL decode failure is the engine's one CRL parse error (kept under its old name). */

export function parseCrlModel(der: Uint8Array, fingerprint = sha256Hex(der)): CrlModel {
  try {
    return decodeCrl(der, fingerprint);
  } catch (e) {
    throw new CrlParseError(`CRL does not decode: ${decodeFailure(e)}`);
  }
}

function decodeCrl(der: Uint8Array, fingerprint: string): CrlModel {
  const f = walkCrl({ der, mode: 'lenient' });
  const sigContent = content(f.signatureValue);
  const issuer = parseNameTlv(f.issuer);
  const m: CrlModel = {
    der,
    fingerprint,
    tbs: raw(f.tbs),
    innerSigAlg: raw(f.signature),
    outerSigAlg: raw(f.signatureAlgorithm),
    sig: signatureSpec(f.signature),
    signature: sigContent.subarray(1),
    signatureUnusedBits: sigContent[0] ?? 0,
    issuer,
    lastUpdate: parseTime(f.thisUpdate),
    nextUpdate: f.nextUpdate ? parseTime(f.nextUpdate) : undefined,
    entries: new Map(),
    idpFlags: 0,
    idpReasons: CRLDP_ALL_REASONS,
    critical: false,
    invalid: false,
  };
  for (const { oid, critical, value } of f.extensions) {
    const v = extensionValue(value);
    if (critical && oid !== OID.issuingDistributionPoint && oid !== OID.authorityKeyIdentifier && oid !== OID.deltaCrlIndicator)
      m.critical = true;
    try {
      if (oid === OID.authorityKeyIdentifier) m.akid = parseAkid(v);
      else if (oid === OID.crlNumber) m.crlNumber = integerValue(content(v));
      else if (oid === OID.deltaCrlIndicator) m.baseCrlNumber = integerValue(content(v));
      else if (oid === OID.issuingDistributionPoint) applyIdp(m, v);
    } catch {
      m.invalid = true;
    }
  }
  if (m.baseCrlNumber !== undefined && m.crlNumber === undefined) m.invalid = true;
  for (const r of f.revoked ? children(f.revoked) : []) {
    const e = readCrlEntry(r, 'revokedCertificates entry');
    const serial = integerValue(content(e.serial));
    const entry: CrlEntryModel = { serial, serialHex: bytesToHex(content(e.serial)), revokedAt: parseTime(e.revocationDate), reason: -1 };
    for (const { oid, critical, value } of e.extensions) {
      const v = extensionValue(value);
      if (oid === OID.crlReason) entry.reason = Number(integerValue(content(v)));
      else if (oid === OID.certificateIssuer) entry.certIssuer = parseGeneralNames(v);
      else if (critical) m.critical = true;
    }
    const list = m.entries.get(serial);
    if (list) list.push(entry);
    else m.entries.set(serial, [entry]);
  }
  return m;
}

function applyIdp(m: CrlModel, v: Tlv): void {
  // IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0], onlyContainsUserCerts [1],
  //   onlyContainsCACerts [2], onlySomeReasons [3], indirectCRL [4], onlyContainsAttributeCerts [5] }
  m.idpFlags |= IDP.PRESENT;
  let only = 0;
  for (const f of children(v)) {
    const n = f.tag & 0x1f;
    const flag = (): boolean => content(f)[0] !== 0;
    if (n === 0) m.idpDistpoint = parseDistPointName(f, m.issuer);
    else if (n === 1 && flag()) {
      m.idpFlags |= IDP.ONLYUSER;
      only++;
    } else if (n === 2 && flag()) {
      m.idpFlags |= IDP.ONLYCA;
      only++;
    } else if (n === 3) {
      m.idpFlags |= IDP.REASONS;
      const c = content(f);
      let r = c.length > 1 ? c[1] : 0;
      if (c.length > 2) r |= c[2] << 8;
      m.idpReasons = r & CRLDP_ALL_REASONS;
    } else if (n === 4 && flag()) m.idpFlags |= IDP.INDIRECT;
    else if (n === 5 && flag()) {
      m.idpFlags |= IDP.ONLYATTR;
      only++;
    }
  }
  if (only > 1) m.idpFlags |= IDP.INVALID;
}
