/**
 * The judge's verdict engine: how a certificate chain presented by a TLS client is judged, in
 * the words nginx and OpenSSL would use and in plain words.
 *
 * Pure: no database, no network, no clock (the time is a parameter). The OpenSSL part is a
 * replay of X509_verify_cert (openssl-verify.ts); this module turns that trace into a Verdict:
 *
 * - `nginx` is what nginx 1.22 + OpenSSL 3.0 puts in $ssl_client_verify with
 *   `ssl_verify_client on|optional`, `ssl_client_certificate <anchors>`, `ssl_verify_depth
 *   <maxDepth>` and, when CRLs are given, `ssl_crl <crls>`. nginx's verify callback ignores every
 *   error, so OpenSSL keeps going and nginx reports the LAST error it saw.
 * - `openssl` is the FIRST error, which is also the first error `openssl verify -purpose
 *   sslclient -verify_depth <maxDepth> -auth_level 1 -CAfile <anchors> -untrusted <rest>
 *   [-crl_check_all -CRLfile <crls>] [-verify_hostname|-verify_email|-verify_ip <name>]` prints.
 * - `status`/`reason` follow the first error nginx would also see, then the name checks. A name
 *   mismatch (expectName) or a revocation only the authoritative lookup knows about fails the
 *   verdict although nginx says SUCCESS: nginx does not check client names, and it only knows
 *   the revocations listed in its ssl_crl file.
 * - the missing_intermediate / unknown_ca rule for "unable to get local issuer certificate" is
 *   documented at classifyMissingIssuer.
 */
import { bytesToIp, emptySans, type Sans } from '../names.ts';
import type { CertificateInfo } from '../certificate-info.ts';
import { extKeyUsageName } from '../oids.ts';
import { PkiError } from '../errors.ts';
import { Lru } from '../lru.ts';
import { revocationReasonName } from '../revocation/reasons.ts';
import { strictAbsent, strictMalformed, strictVerify, type StrictVerdict } from './strict-verify.ts';
import { checkIdentity, type IdentityKind } from './name-checks.ts';
import { HAPROXY_VERIFY_DEPTH, haproxyVerdict, kongMessage, type HaproxyVerdict } from './gateway-verdicts.ts';
import { X509_V, x509ErrorName, x509ErrorString } from './openssl-codes.ts';
import {
  buildTrustStore,
  x509VerifyCert,
  type CrlCheck,
  type Purpose,
  type SignatureCache,
  type TrustStore,
  type VerifyEvent,
  type VerifyTrace,
} from './openssl-verify.ts';
import {
  EXFLAG,
  KU,
  KU_NAMES,
  NS,
  XKU,
  akidMatches,
  parseCertificateModel,
  parseCrlModel,
  sha256Hex,
  sigAlgMatchesKey,
  type CertModel,
  type CrlModel,
} from './x509-model.ts';

export type JudgeStatus = 'verified' | 'failed' | 'absent';

/**
 * How many presented certificates the judge reads, leaf first; the rest are counted
 * (Verdict.presentedCount) and named in a check and a hint, not parsed. A client sends its leaf
 * and a few intermediates, and no path is longer than ssl_verify_depth (at most 16 here), so a
 * longer list is a misconfiguration (a whole CA bundle as the chain) — or an attempt to make
 * the judge parse and try to chain thousands of certificates.
 */
export const MAX_PRESENTED = 16;

export const JUDGE_REASONS = [
  'unknown_ca',
  'missing_intermediate',
  'expired',
  'not_yet_valid',
  'revoked',
  'wrong_purpose',
  'key_usage',
  'name_mismatch',
  'bad_signature',
  'self_signed',
  'not_a_ca',
  'path_length',
  'name_constraints',
  'revocation_unknown',
  'malformed',
] as const;
export type JudgeReason = (typeof JUDGE_REASONS)[number];

export interface OpensslResult {
  code: number;
  name: string;
  depth: number;
}

export interface RevocationSummary {
  /** Whether any source could say good or revoked for the leaf (or found a CA revoked). */
  checked: boolean;
  /** 'crl', the lookup's source name, both joined by '+', or 'none'. */
  source: string;
  status: 'good' | 'revoked' | 'unknown';
  reason?: string;
  revokedAt?: string;
}

export interface JudgeCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Verdict {
  status: JudgeStatus;
  reason: JudgeReason | null;
  nginx: string;
  openssl: OpensslResult | null;
  /** HAProxy 2.6's ssl_c_* fetches and handshake outcome (gateway-verdicts.ts). */
  haproxy: HaproxyVerdict;
  /** Kong mtls-auth's 401 message; null when verified. */
  kong: string | null;
  presented: CertificateInfo[];
  /** How many certificates were presented; `presented` lists the first MAX_PRESENTED of them. */
  presentedCount: number;
  path: CertificateInfo[] | null;
  revocation: RevocationSummary;
  checks: JudgeCheck[];
  hints: string[];
  /** RFC 5280 + web-PKI rules of the strictest common verifiers, beside nginx's (strict-verify.ts). */
  strict: StrictVerdict;
}

export interface RevocationLookupResult {
  status: 'good' | 'revoked' | 'unknown';
  reason?: string;
  revokedAt?: Date;
  source: string;
}

/**
 * An authoritative revocation source (e.g. Anvil's database), asked about each certificate of
 * the path whose issuer is known. `undefined` means "not a certificate I know".
 */
export type RevocationLookup = (cert: {
  serialHex: string;
  issuerSpki: Uint8Array;
  issuerNameDer: Uint8Array;
}) => RevocationLookupResult | undefined;

export interface ExpectName {
  type: IdentityKind;
  value: string;
}

export interface JudgeOptions {
  at: Date;
  /** 'client' (default): judged as nginx judges a client certificate (purpose sslclient). */
  purpose?: 'client' | 'server';
  expectName?: ExpectName;
  /** nginx ssl_verify_depth; default 3 (the judge's nginx config; nginx's own default is 1). */
  maxDepth?: number;
  revocationLookup?: RevocationLookup;
}

export interface JudgeConfig {
  /** Trusted certificates (DER), as in ssl_client_certificate. */
  anchors: Uint8Array[];
  /** When given, revocation is checked for every certificate of the path, as ssl_crl does. */
  crls?: Uint8Array[];
  /**
   * CA certificates the caller knows but does not trust directly (e.g. Anvil's own
   * intermediates). Never used to build the path — nginx does not either — only to tell a
   * missing intermediate from an unknown CA and to name the missing certificate.
   */
  knownIssuers?: Uint8Array[];
  /** OpenSSL security level for key sizes and digests (nginx on OpenSSL 3.0: 1). */
  securityLevel?: number;
  /** Parsed certificates and signature results kept for repeated judgments (default 1024). */
  cacheSize?: number;
}

export interface JudgeChainParams extends JudgeOptions {
  presented: Uint8Array[];
  anchors: Uint8Array[];
  crls?: Uint8Array[];
  knownIssuers?: Uint8Array[];
}

export interface Judge {
  judge(presented: Uint8Array[], options: JudgeOptions): Verdict;
  /**
   * Every error OpenSSL's verify callback sees, in order (what nginx's callback is shown);
   * `openssl verify` prints the prefix up to the first error not in OPENSSL_VERIFY_CONTINUES.
   */
  trace(presented: Uint8Array[], options: JudgeOptions): VerifyTrace;
  /** The parsed trust anchors, described. */
  readonly anchors: CertificateInfo[];
}

export class JudgeInputError extends PkiError<'malformed_anchor' | 'malformed_crl' | 'malformed_issuer'> {}

// ---- describing certificates ----------------------------------------------------------------

const described = new WeakMap<CertModel, CertificateInfo>();

export function describeModel(x: CertModel): CertificateInfo {
  const hit = described.get(x);
  if (hit) return hit;
  const sans: Sans = emptySans();
  for (const g of x.san ?? []) {
    if (g.kind === 'dns') sans.dns.push(g.value);
    else if (g.kind === 'email') sans.email.push(g.value);
    else if (g.kind === 'uri') sans.uri.push(g.value);
    else if (g.kind === 'ip') sans.ip.push(bytesToIp(g.bytes));
  }
  const info: CertificateInfo = {
    subject: x.subject.oneline,
    issuer: x.issuer.oneline,
    serial: x.serialHex,
    notBefore: x.notBefore.iso ?? 'invalid',
    notAfter: x.notAfter.iso ?? 'invalid',
    sans,
    keyUsage: x.flags & EXFLAG.KUSAGE ? KU_NAMES.filter(([bit]) => x.ku & bit).map(([, n]) => n) : [],
    extendedKeyUsage: (x.ekuOids ?? []).map(extKeyUsageName),
    isCA: (x.flags & EXFLAG.CA) !== 0,
    fingerprintSha256: x.fingerprint,
  };
  described.set(x, info);
  return info;
}

// ---- reasons --------------------------------------------------------------------------------

/** Why X509_check_purpose refused `x`: its EKU, its KU, or (for a CA) its CA-ness. */
function purposeFailure(x: CertModel, purpose: Purpose, depth: number): 'eku' | 'ku' | 'ns' | 'ca' {
  const wantXku = purpose === 'sslclient' ? XKU.SSL_CLIENT : XKU.SSL_SERVER | XKU.SGC;
  if (x.flags & EXFLAG.XKUSAGE && !(x.xku & wantXku)) return 'eku';
  if (depth > 0) return 'ca';
  const wantKu =
    purpose === 'sslclient' ? KU.DIGITAL_SIGNATURE | KU.KEY_AGREEMENT : KU.DIGITAL_SIGNATURE | KU.KEY_ENCIPHERMENT | KU.KEY_AGREEMENT;
  if (x.flags & EXFLAG.KUSAGE && !(x.ku & wantKu)) return 'ku';
  const wantNs = purpose === 'sslclient' ? NS.SSL_CLIENT : NS.SSL_SERVER;
  if (x.flags & EXFLAG.NSCERT && !(x.nscert & wantNs)) return 'ns';
  return 'eku';
}

interface Context {
  trace: VerifyTrace;
  presented: CertModel[];
  store: TrustStore;
  knownIssuers: CertModel[];
  purpose: Purpose;
  maxDepth: number;
  securityLevel: number;
  at: Date;
}

/** The CA certificate that would complete the chain above `x`, if the caller knows one. */
function knownIssuerOf(ctx: Context, x: CertModel): CertModel | undefined {
  return ctx.knownIssuers.find((k) => k.subject.canon === x.issuer.canon && akidMatches(k, x.akid) && sigAlgMatchesKey(k.key, x.sig));
}

/**
 * 20 (unable to get local issuer certificate) means "the chain stops at a certificate whose
 * issuer nobody supplied". The rule used to name it:
 * - a trust anchor did issue it: the search stopped at ssl_verify_depth -> path_length;
 * - its issuer is one of `knownIssuers` (e.g. Anvil's intermediates) -> missing_intermediate;
 * - the chain stops at a CA certificate the client sent -> unknown_ca (the client sent its
 *   intermediates; their root is just not trusted here);
 * - a trust anchor has the issuer's name but a different key -> unknown_ca (re-keyed CA or an
 *   impostor);
 * - the client sent a certificate with the issuer's name that is not the issuer (wrong key)
 *   -> missing_intermediate (it sent the wrong intermediate);
 * - the client sent only its leaf and `knownIssuers` was not given -> missing_intermediate:
 *   by far the commonest cause, and the hint says what it means if the CA is foreign;
 * - otherwise (knownIssuers given, none matches) -> unknown_ca.
 */
function classifyMissingIssuer(ctx: Context, e: VerifyEvent): JudgeReason {
  const top = ctx.trace.chain[ctx.trace.chain.length - 1];
  const sameName = ctx.store.bySubject.get(top.issuer.canon) ?? [];
  if (sameName.some((a) => akidMatches(a, top.akid) && sigAlgMatchesKey(a.key, top.sig))) return 'path_length';
  if (knownIssuerOf(ctx, top)) return 'missing_intermediate';
  if (e.depth > 0 && (top.flags & EXFLAG.CA) !== 0) return 'unknown_ca';
  if (sameName.length) return 'unknown_ca';
  if (ctx.presented.some((p) => p !== top && p.subject.canon === top.issuer.canon)) return 'missing_intermediate';
  return ctx.knownIssuers.length ? 'unknown_ca' : 'missing_intermediate';
}

function reasonFor(ctx: Context, e: VerifyEvent): JudgeReason {
  switch (e.code) {
    case X509_V.UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      return classifyMissingIssuer(ctx, e);
    case X509_V.UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return 'missing_intermediate';
    case X509_V.UNABLE_TO_GET_ISSUER_CERT:
    case X509_V.SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V.CERT_REJECTED:
    case X509_V.CERT_UNTRUSTED:
      return 'unknown_ca';
    case X509_V.DEPTH_ZERO_SELF_SIGNED_CERT:
      return 'self_signed';
    case X509_V.CERT_HAS_EXPIRED:
      return 'expired';
    case X509_V.CERT_NOT_YET_VALID:
      return 'not_yet_valid';
    case X509_V.CERT_REVOKED:
      return 'revoked';
    case X509_V.INVALID_PURPOSE: {
      const why = e.cert ? purposeFailure(e.cert, ctx.purpose, e.depth) : 'eku';
      return why === 'ku' ? 'key_usage' : why === 'ca' ? 'not_a_ca' : 'wrong_purpose';
    }
    case X509_V.CERT_SIGNATURE_FAILURE:
    case X509_V.UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V.EE_KEY_TOO_SMALL:
    case X509_V.CA_KEY_TOO_SMALL:
    case X509_V.CA_MD_TOO_WEAK:
      return 'bad_signature';
    case X509_V.INVALID_CA:
    case X509_V.INVALID_NON_CA:
    case X509_V.KEYUSAGE_NO_CERTSIGN:
      return 'not_a_ca';
    case X509_V.PATH_LENGTH_EXCEEDED:
    case X509_V.CERT_CHAIN_TOO_LONG:
      return 'path_length';
    case X509_V.PERMITTED_VIOLATION:
    case X509_V.EXCLUDED_VIOLATION:
    case X509_V.SUBTREE_MINMAX:
    case X509_V.UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V.UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V.UNSUPPORTED_NAME_SYNTAX:
      return 'name_constraints';
    case X509_V.HOSTNAME_MISMATCH:
    case X509_V.EMAIL_MISMATCH:
    case X509_V.IP_ADDRESS_MISMATCH:
      return 'name_mismatch';
    case X509_V.UNABLE_TO_GET_CRL:
    case X509_V.CRL_SIGNATURE_FAILURE:
    case X509_V.CRL_NOT_YET_VALID:
    case X509_V.CRL_HAS_EXPIRED:
    case X509_V.ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V.ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V.UNABLE_TO_GET_CRL_ISSUER:
    case X509_V.KEYUSAGE_NO_CRL_SIGN:
    case X509_V.UNHANDLED_CRITICAL_CRL_EXTENSION:
    case X509_V.DIFFERENT_CRL_SCOPE:
    case X509_V.CRL_PATH_VALIDATION_ERROR:
    case X509_V.UNABLE_TO_DECRYPT_CRL_SIGNATURE:
      return 'revocation_unknown';
    default:
      return 'malformed';
  }
}

// ---- words ----------------------------------------------------------------------------------

const q = (s: string): string => `"${s}"`;
const day = (iso: string | null | undefined): string => (iso ? iso.slice(0, 10) : 'an unreadable date');

function daysBetween(a: Date, epoch: number | null): string {
  if (epoch === null) return '';
  const d = Math.round(Math.abs(a.getTime() / 1000 - epoch) / 86400);
  return d === 0 ? 'today' : d === 1 ? '1 day' : `${d} days`;
}

function namesOf(x: CertModel): string {
  const i = describeModel(x);
  const all = [
    ...i.sans.dns.map((v) => `DNS:${v}`),
    ...i.sans.ip.map((v) => `IP:${v}`),
    ...i.sans.email.map((v) => `email:${v}`),
    ...i.sans.uri.map((v) => `URI:${v}`),
  ];
  return all.length ? all.join(', ') : `no subjectAltName (subject ${q(x.subject.oneline)})`;
}

function eventText(e: VerifyEvent): string {
  const who = e.cert ? ` (${q(e.cert.subject.oneline)})` : '';
  return `${x509ErrorString(e.code)} at depth ${e.depth}${who}`;
}

function hintFor(
  ctx: Context,
  reason: JudgeReason,
  e: VerifyEvent | null,
  extra: { revocation?: RevocationSummary; expect?: ExpectName; revokedBy?: string },
): string {
  const x = e?.cert ?? ctx.presented[0];
  const subj = x ? q(x.subject.oneline) : 'the certificate';
  const want = ctx.purpose === 'sslclient' ? 'clientAuth' : 'serverAuth';
  switch (reason) {
    case 'missing_intermediate': {
      const top = ctx.trace.chain[ctx.trace.chain.length - 1];
      const known = knownIssuerOf(ctx, top);
      const wrong = ctx.presented.find((p) => p !== top && p.subject.canon === top.issuer.canon);
      if (known)
        return `The client did not send the intermediate CA certificate ${q(known.subject.oneline)} that issued ${q(top.subject.oneline)}. Configure the client to send the full chain: fullchain.pem (its certificate followed by the intermediates) instead of cert.pem.`;
      if (wrong)
        return `The client sent ${q(wrong.subject.oneline)}, but that is not the certificate that issued ${q(top.subject.oneline)} (different key). Send the matching intermediate: the current fullchain.pem from the CA.`;
      return `The issuer of ${q(top.subject.oneline)}, ${q(top.issuer.oneline)}, was not sent and is not a trust anchor here. If it is an intermediate CA of a trusted root, configure the client to send the full chain (fullchain.pem instead of cert.pem); if not, the certificate comes from a CA this server does not trust.`;
    }
    case 'unknown_ca': {
      const top = ctx.trace.chain[ctx.trace.chain.length - 1];
      if (e?.code === X509_V.UNABLE_TO_GET_ISSUER_CERT)
        return `The trust bundle holds ${q(top.subject.oneline)} but not the root that issued it (${q(top.issuer.oneline)}). nginx only accepts chains ending at a self-signed root listed in ssl_client_certificate: add that root to the bundle.`;
      if (e?.code === X509_V.SELF_SIGNED_CERT_IN_CHAIN)
        return `The chain ends at the root ${q(top.subject.oneline)}, which this server does not trust. Use a certificate from a CA this server trusts, or add that root to the trust bundle (ssl_client_certificate).`;
      if (ctx.store.bySubject.has(top.issuer.canon))
        return `${q(top.subject.oneline)} names ${q(top.issuer.oneline)} as its issuer, and a trusted CA has that name, but not the key that signed it: the CA was re-keyed or this is a different CA with the same name. Get a certificate from the current CA, or trust the CA that issued it.`;
      return `The chain ends at ${q(top.subject.oneline)}, issued by ${q(top.issuer.oneline)}, a CA this server does not trust. Request a certificate from a trusted CA, or add that CA's root to the trust bundle (ssl_client_certificate).`;
    }
    case 'expired':
      return e && e.depth > 0
        ? `The CA certificate ${subj} expired on ${day(x.notAfter.iso)}. The CA must be renewed and clients must send the renewed chain.`
        : `The certificate ${subj} expired on ${day(x.notAfter.iso)} (${daysBetween(ctx.at, x.notAfter.epoch)} ago). Renew it and deploy the new certificate.`;
    case 'not_yet_valid':
      return `The certificate ${subj} is valid only from ${x.notBefore.iso ?? 'an unreadable date'} (in ${daysBetween(ctx.at, x.notBefore.epoch)}). Either the clock of the checking host is behind (check NTP) or it was issued with a future start date: wait, or reissue it.`;
    case 'revoked': {
      const r = extra.revocation;
      const when = r?.revokedAt ? ` on ${day(r.revokedAt)}` : '';
      const why = r?.reason ? ` (reason: ${r.reason})` : '';
      const by = extra.revokedBy ? ` according to ${extra.revokedBy}` : '';
      return `The certificate ${subj} was revoked${when}${why}${by}. Request a new certificate; a revoked one cannot be reinstated.`;
    }
    case 'wrong_purpose':
      return e && e.depth > 0
        ? `The CA certificate ${subj} restricts its extendedKeyUsage (${describeModel(x).extendedKeyUsage.join(', ') || 'none'}) to uses that exclude ${want}, so OpenSSL refuses every certificate below it for TLS ${ctx.purpose === 'sslclient' ? 'client' : 'server'} authentication. Reissue the CA without that restriction or with ${want}.`
        : `The certificate ${subj} does not allow TLS ${ctx.purpose === 'sslclient' ? 'client' : 'server'} authentication (extendedKeyUsage: ${describeModel(x).extendedKeyUsage.join(', ') || 'none'}). Reissue with ${want} (Anvil profile ${ctx.purpose === 'sslclient' ? "'client' or 'peer'" : "'server' or 'peer'"}).`;
    case 'key_usage':
      return `The keyUsage of ${subj} (${describeModel(x).keyUsage.join(', ') || 'none'}) lacks digitalSignature${ctx.purpose === 'sslclient' ? ' and keyAgreement' : ', keyEncipherment and keyAgreement'}, which a TLS ${ctx.purpose === 'sslclient' ? 'client' : 'server'} key needs. Reissue with keyUsage digitalSignature.`;
    case 'name_mismatch': {
      const exp = extra.expect;
      return `The certificate names (${x ? namesOf(x) : 'none'}) do not include the expected ${exp?.type ?? 'name'} ${q(exp?.value ?? '')}. Reissue with that name in subjectAltName. nginx itself does not compare client certificate names; that check is the application's.`;
    }
    case 'bad_signature':
      if (e?.code === X509_V.EE_KEY_TOO_SMALL || e?.code === X509_V.CA_KEY_TOO_SMALL)
        return `The key of ${subj} (${x.key.description}, ${x.key.securityBits} bits of security) is below OpenSSL's security level ${ctx.securityLevel}. Reissue with EC P-256 or RSA 2048 or larger.`;
      if (e?.code === X509_V.CA_MD_TOO_WEAK)
        return `${subj} is signed with a digest OpenSSL 3 rejects at security level ${ctx.securityLevel} (SHA-1 or MD5). Reissue it signed with SHA-256.`;
      return `The signature on ${subj} does not verify with the key of ${q(x.issuer.oneline)}: the certificate was altered, or it was not issued by the CA that carries that name. Download the certificate again from the CA.`;
    case 'self_signed':
      return `The client presented a self-signed certificate, ${subj}. Use a certificate issued by a CA this server trusts, or add this certificate to the trust bundle if it must be trusted on its own.`;
    case 'not_a_ca':
      return `${subj} is used as an issuer in the chain but is not a CA certificate (basicConstraints CA:TRUE with keyCertSign is required). The client's chain is wrong, or the certificate was signed with an end-entity key: reissue it from the CA.`;
    case 'path_length':
      if (e?.code === X509_V.CERT_CHAIN_TOO_LONG)
        return `The chain is longer than ssl_verify_depth ${ctx.maxDepth} allows. Raise ssl_verify_depth, or use a shorter chain.`;
      return `${subj} allows at most ${x.pathlen} CA certificate${x.pathlen === 1 ? '' : 's'} below it (pathLenConstraint), and the chain has more. Issue from a CA higher up, or reissue the CA with a larger path length.`;
    case 'name_constraints':
      return `The names of ${subj} (${namesOf(x)}) are outside what a CA above it may issue for (nameConstraints). Reissue with names inside the CA's permitted subtrees, or from an unconstrained CA.`;
    case 'revocation_unknown': {
      const issuer = q(x.issuer.oneline);
      switch (e?.code) {
        case X509_V.CRL_HAS_EXPIRED:
          return `The CRL of ${issuer} has passed its nextUpdate. Refresh the CRL file behind ssl_crl (fetch it from the CA regularly) and reload nginx.`;
        case X509_V.CRL_NOT_YET_VALID:
          return `The CRL of ${issuer} starts in the future: check the clocks of the CA and of this host.`;
        case X509_V.CRL_SIGNATURE_FAILURE:
          return `The CRL of ${issuer} is not signed by that CA's key: replace it with the CA's current CRL.`;
        case X509_V.KEYUSAGE_NO_CRL_SIGN:
          return `${issuer} signs CRLs but its keyUsage lacks cRLSign, so OpenSSL refuses them. Reissue the CA certificate with cRLSign.`;
        case X509_V.UNHANDLED_CRITICAL_CRL_EXTENSION:
          return `The CRL of ${issuer} carries a critical extension OpenSSL does not understand: publish a plain CRL.`;
        case X509_V.DIFFERENT_CRL_SCOPE:
          return `The CRL of ${issuer} does not cover ${subj} (its issuingDistributionPoint differs from the certificate's CRL distribution point).`;
        default:
          return `No usable CRL for ${subj} (issuer ${issuer}). With ssl_crl, nginx needs a current CRL from every CA in the chain, the root included: add the CRL of ${issuer} to the ssl_crl file and refresh it before its nextUpdate.`;
      }
    }
    case 'malformed':
      return `${subj} could not be processed (${e ? x509ErrorString(e.code) : 'it does not decode'}). Re-export the certificate from the CA as PEM or DER and try again.`;
  }
}

const ABSENT_HINTS = [
  'No client certificate was presented. Check that the client is configured with a certificate and its key (curl --cert cert.pem --key key.pem, or the equivalent in your HTTP client or service mesh).',
  'If a proxy or load balancer sits in front of this server and terminates TLS, the certificate ends at the proxy: configure it to pass the connection through, or to forward the certificate in a trusted header (nginx X-Client-Cert, Envoy X-Forwarded-Client-Cert).',
  'Check the host and port: the client certificate is only requested on the mTLS listener, not on the plain HTTP port.',
];

// ---- checks ---------------------------------------------------------------------------------

const CATEGORY: Record<number, string> = {};
const setCategory = (name: string, codes: number[]): void => {
  for (const c of codes) CATEGORY[c] = name;
};
setCategory('chain', [2, 18, 19, 20, 27, 28]);
setCategory('signature', [4, 6, 7, 21, 32]);
setCategory('validity', [9, 10, 13, 14]);
setCategory('ca', [22, 24, 25, 34, 37, 40, 79, 94, 1]);
setCategory('purpose', [26]);
setCategory('security_level', [66, 67, 68]);
setCategory('name', [62, 63, 64]);
setCategory('name_constraints', [47, 48, 49, 51, 52, 53]);
setCategory('revocation', [3, 5, 8, 11, 12, 15, 16, 23, 33, 35, 36, 41, 44, 54]);

function summarizeRevocation(
  ctx: Context,
  lookup: RevocationLookup | undefined,
): { summary: RevocationSummary; lookupRevoked: { depth: number; result: RevocationLookupResult } | null; lookupNotes: string[] } {
  const { trace } = ctx;
  const notes: string[] = [];
  const chain = trace.chain;
  const crlOn = ctx.store.crlsByIssuer !== null;
  // CRL view of the leaf (depth 0), and any certificate found revoked.
  const leafCrl: CrlCheck | undefined = trace.crlChecks.find((c) => c.depth === 0);
  const crlRevoked = trace.crlChecks.find((c) => c.entry);
  let crlLeafStatus: 'good' | 'revoked' | 'unknown' = 'unknown';
  if (crlRevoked) crlLeafStatus = 'revoked';
  else if (leafCrl?.crl && leafCrl.codes.length === 0) crlLeafStatus = 'good';

  // Authoritative lookup for every certificate whose issuer is in the path.
  let lookupLeaf: RevocationLookupResult | undefined;
  let lookupRevoked: { depth: number; result: RevocationLookupResult } | null = null;
  if (lookup) {
    for (let i = 0; i + 1 < chain.length; i++) {
      const x = chain[i];
      if (x.flags & EXFLAG.SS) continue;
      const issuer = chain[i + 1];
      const r = lookup({ serialHex: x.serialHex, issuerSpki: issuer.key.spki, issuerNameDer: x.issuer.der });
      if (!r) continue;
      if (i === 0) lookupLeaf = r;
      if (r.status === 'revoked' && !lookupRevoked) lookupRevoked = { depth: i, result: r };
    }
    if (chain.length < 2) notes.push('the issuer of the leaf is not in the path, so the revocation source could not be asked');
  }

  let summary: RevocationSummary;
  if (lookupRevoked) {
    const r = lookupRevoked.result;
    summary = {
      checked: true,
      source: r.source,
      status: 'revoked',
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.revokedAt ? { revokedAt: r.revokedAt.toISOString() } : {}),
    };
  } else if (crlLeafStatus === 'revoked' && crlRevoked?.entry) {
    const en = crlRevoked.entry;
    summary = {
      checked: true,
      source: 'crl',
      status: 'revoked',
      reason: revocationReasonName(en.reason) ?? (en.reason < 0 ? 'unspecified' : String(en.reason)),
      ...(en.revokedAt.iso ? { revokedAt: en.revokedAt.iso } : {}),
    };
  } else {
    const good: string[] = [];
    if (crlLeafStatus === 'good') good.push('crl');
    if (lookupLeaf?.status === 'good') good.push(lookupLeaf.source);
    summary = good.length
      ? { checked: true, source: good.join('+'), status: 'good' }
      : { checked: false, source: 'none', status: 'unknown' };
  }
  if (!crlOn) notes.push('no CRLs were given (nginx without ssl_crl does not check revocation either)');
  else if (crlLeafStatus === 'unknown') notes.push('no usable CRL covered the leaf');
  if (lookup && !lookupLeaf && chain.length >= 2) notes.push('the revocation source does not know this certificate');
  if (lookupLeaf?.status === 'unknown') notes.push(`${lookupLeaf.source} answered "unknown"`);
  return { summary, lookupRevoked, lookupNotes: notes };
}

function buildChecks(
  ctx: Context,
  events: VerifyEvent[],
  revocation: RevocationSummary,
  revNotes: string[],
  expect: ExpectName | undefined,
  uriMismatch: boolean,
): JudgeCheck[] {
  const byCat = new Map<string, VerifyEvent[]>();
  for (const e of events) {
    const c = CATEGORY[e.code] ?? 'ca';
    byCat.set(c, [...(byCat.get(c) ?? []), e]);
  }
  const failed = (name: string): string | null => {
    const list = byCat.get(name);
    return list ? list.map(eventText).join('; ') : null;
  };
  const { trace } = ctx;
  const leaf = ctx.presented[0];
  const checks: JudgeCheck[] = [];
  const chainText = trace.chain.map((x) => q(x.subject.oneline)).join(' -> ');
  checks.push({
    name: 'chain',
    ok: !byCat.has('chain'),
    detail: failed('chain') ?? `path to a trust anchor: ${chainText}`,
  });
  checks.push({ name: 'signature', ok: !byCat.has('signature'), detail: failed('signature') ?? 'every signature in the path verifies' });
  checks.push({
    name: 'validity',
    ok: !byCat.has('validity'),
    detail: failed('validity') ?? `every certificate is valid at ${ctx.at.toISOString()}; the leaf until ${leaf.notAfter.iso}`,
  });
  checks.push({ name: 'ca', ok: !byCat.has('ca'), detail: failed('ca') ?? 'every issuer is a CA, within path length and depth limits' });
  const li = describeModel(leaf);
  checks.push({
    name: 'purpose',
    ok: !byCat.has('purpose'),
    detail:
      failed('purpose') ??
      `allowed for TLS ${ctx.purpose === 'sslclient' ? 'client' : 'server'} authentication (extendedKeyUsage: ${li.extendedKeyUsage.join(', ') || 'any'}; keyUsage: ${li.keyUsage.join(', ') || 'any'})`,
  });
  checks.push({
    name: 'security_level',
    ok: !byCat.has('security_level'),
    detail: failed('security_level') ?? `keys and digests meet OpenSSL security level ${ctx.securityLevel}`,
  });
  if (expect) {
    const bad = failed('name') ?? (uriMismatch ? `URI ${q(expect.value)} is not among the certificate's names` : null);
    checks.push({ name: 'name', ok: bad === null, detail: bad ?? `${expect.type} ${q(expect.value)} matches (${namesOf(leaf)})` });
  }
  if (byCat.has('name_constraints') || trace.chain.some((x) => x.nc))
    checks.push({
      name: 'name_constraints',
      ok: !byCat.has('name_constraints'),
      detail: failed('name_constraints') ?? 'names are within every CA name constraint',
    });
  const revFail = failed('revocation');
  const revDetail =
    revocation.status === 'revoked'
      ? `revoked${revocation.revokedAt ? ` on ${revocation.revokedAt}` : ''}${revocation.reason ? ` (${revocation.reason})` : ''} according to ${revocation.source}`
      : revocation.status === 'good'
        ? `not revoked according to ${revocation.source}`
        : `not checked: ${revNotes.join('; ') || 'no revocation information'}`;
  checks.push({
    name: 'revocation',
    ok: revocation.status === 'good' && !revFail,
    detail: revFail ? `${revFail}; ${revDetail}` : revDetail,
  });
  return checks;
}

// ---- the judge ------------------------------------------------------------------------------

function parseAll<T>(list: Uint8Array[], parse: (d: Uint8Array) => T, code: JudgeInputError['code'], what: string): T[] {
  return list.map((der, i) => {
    try {
      return parse(der);
    } catch (e) {
      throw new JudgeInputError(code, `${what} #${i + 1}: ${(e as Error).message}`);
    }
  });
}

export function createJudge(config: JudgeConfig): Judge {
  const anchors = parseAll(config.anchors, (d) => parseCertificateModel(d), 'malformed_anchor', 'trust anchor');
  const crls: CrlModel[] | null = config.crls ? parseAll(config.crls, (d) => parseCrlModel(d), 'malformed_crl', 'CRL') : null;
  const knownIssuers = parseAll(config.knownIssuers ?? [], (d) => parseCertificateModel(d), 'malformed_issuer', 'known issuer');
  const store = buildTrustStore(anchors, crls);
  const securityLevel = config.securityLevel ?? 1;
  const certCache = new Lru<CertModel>(config.cacheSize ?? 1024);
  const sigCache: SignatureCache = new Map();
  for (const a of store.anchors) certCache.set(a.fingerprint, a);

  const parsePresented = (der: Uint8Array): CertModel => {
    const fp = sha256Hex(der);
    const hit = certCache.get(fp);
    if (hit) return hit;
    const m = parseCertificateModel(der, fp);
    certCache.set(fp, m);
    return m;
  };

  function runTrace(presented: CertModel[], options: JudgeOptions): VerifyTrace {
    const expect = options.expectName;
    const identity = expect && expect.type !== 'uri' ? { kind: expect.type, value: expect.value } : undefined;
    return x509VerifyCert(
      presented,
      store,
      {
        purpose: options.purpose === 'server' ? 'sslserver' : 'sslclient',
        at: Math.floor(options.at.getTime() / 1000),
        depth: options.maxDepth ?? 3,
        authLevel: securityLevel,
        identity,
      },
      sigCache,
    );
  }

  function judge(presentedDer: Uint8Array[], options: JudgeOptions): Verdict {
    const purpose: Purpose = options.purpose === 'server' ? 'sslserver' : 'sslclient';
    const maxDepth = options.maxDepth ?? 3;
    if (presentedDer.length === 0) {
      return {
        status: 'absent',
        reason: null,
        nginx: 'NONE',
        openssl: null,
        haproxy: haproxyVerdict(false, []),
        kong: kongMessage('absent'),
        presented: [],
        presentedCount: 0,
        path: null,
        revocation: { checked: false, source: 'none', status: 'unknown' },
        checks: [{ name: 'certificate', ok: false, detail: 'no client certificate was presented' }],
        hints: [...ABSENT_HINTS],
        strict: strictAbsent(),
      };
    }
    const presentedCount = presentedDer.length;
    const cut = presentedCount > MAX_PRESENTED;
    let presented: CertModel[];
    try {
      presented = (cut ? presentedDer.slice(0, MAX_PRESENTED) : presentedDer).map(parsePresented);
    } catch (e) {
      return malformedVerdict(presentedDer, (e as Error).message);
    }
    const expect = options.expectName;
    const trace = runTrace(presented, options);
    const ctx: Context = { trace, presented, store, knownIssuers, purpose, maxDepth, securityLevel, at: options.at };
    const events = trace.events;
    // nginx never checks client names: its result is the last error other than check_id's.
    const notIdentity = (e: VerifyEvent): boolean => e.stage !== 'identity';
    const nginxEvents = events.filter(notIdentity);
    const nginxCode = nginxEvents.length ? nginxEvents[nginxEvents.length - 1].code : X509_V.OK;
    const nginx = nginxCode === X509_V.OK ? 'SUCCESS' : `FAILED:${x509ErrorString(nginxCode)}`;
    const first = events[0];
    const openssl: OpensslResult | null = first ? { code: first.code, name: x509ErrorName(first.code), depth: first.depth } : null;
    const uriMismatch = expect?.type === 'uri' && checkIdentity(presented[0], 'uri', expect.value) !== null;

    const { summary: revocation, lookupRevoked, lookupNotes } = summarizeRevocation(ctx, options.revocationLookup);

    // Reasons in order of first appearance; the verdict's reason is the first. Name checks
    // (check_id runs early in OpenSSL) come after what would fail the handshake itself.
    const reasons: Array<{ reason: JudgeReason; event: VerifyEvent | null }> = [];
    const seen = new Set<JudgeReason>();
    for (const e of [...nginxEvents, ...events.filter((x) => x.stage === 'identity')]) {
      const r = reasonFor(ctx, e);
      if (!seen.has(r)) {
        seen.add(r);
        reasons.push({ reason: r, event: e });
      }
    }
    if (lookupRevoked && !seen.has('revoked')) {
      seen.add('revoked');
      reasons.push({
        reason: 'revoked',
        event: { code: X509_V.CERT_REVOKED, depth: lookupRevoked.depth, cert: trace.chain[lookupRevoked.depth], stage: 'revocation' },
      });
    }
    if (uriMismatch && !seen.has('name_mismatch')) {
      seen.add('name_mismatch');
      reasons.push({ reason: 'name_mismatch', event: null });
    }
    const status: JudgeStatus = reasons.length ? 'failed' : 'verified';
    // With the chain incomplete, OpenSSL cannot find the CRL issuer either: that CRL error is a
    // consequence, and its hint would send the reader to the ssl_crl file instead of the chain.
    const chainBroken = seen.has('missing_intermediate') || seen.has('unknown_ca');
    const hints = reasons
      .filter(({ reason }) => !(chainBroken && reason === 'revocation_unknown'))
      .map(({ reason, event }) =>
        hintFor(ctx, reason, event, {
          revocation,
          expect,
          revokedBy: reason === 'revoked' && revocation.source !== 'crl' ? revocation.source : undefined,
        }),
      );
    if (lookupRevoked && nginxCode !== X509_V.CERT_REVOKED)
      hints.push(
        `nginx does not know about this revocation${ctx.store.crlsByIssuer ? ': the CRL in ssl_crl does not list it yet — refresh the CRL file and reload nginx' : ' without ssl_crl: configure ssl_crl with the CA CRLs and refresh them'}.`,
      );
    if (status === 'verified' && !revocation.checked)
      hints.push('Revocation was not checked: give the judge the CA CRLs (and configure ssl_crl in nginx) to reject revoked certificates.');

    const checks = buildChecks(ctx, events, revocation, lookupNotes, expect, uriMismatch);
    checks.unshift({
      name: 'certificate',
      ok: true,
      detail: `${presentedCount} certificate${presentedCount === 1 ? '' : 's'} presented; leaf ${q(presented[0].subject.oneline)}`,
    });
    if (cut) {
      checks.splice(1, 0, {
        name: 'presented_count',
        ok: false,
        detail: `${presentedCount} certificates were presented; only the first ${MAX_PRESENTED} were read`,
      });
      // First when the path is broken: an intermediate may be among the certificates not read.
      const hint = `The client sent ${presentedCount} certificates; the judge reads only the first ${MAX_PRESENTED} (leaf first) and ignored the other ${presentedCount - MAX_PRESENTED}. Send the leaf and its intermediates only (fullchain.pem), not a whole CA bundle.`;
      if (chainBroken) hints.unshift(hint);
      else hints.push(hint);
    }
    // HAProxy has no verify depth of its own: replay at OpenSSL's default when nginx's differs.
    const haproxyTrace = maxDepth === HAPROXY_VERIFY_DEPTH ? trace : runTrace(presented, { ...options, maxDepth: HAPROXY_VERIFY_DEPTH });
    return {
      status,
      reason: reasons[0]?.reason ?? null,
      nginx,
      openssl,
      haproxy: haproxyVerdict(true, haproxyTrace.events.filter(notIdentity)),
      kong: kongMessage(status),
      presented: presented.map(describeModel),
      presentedCount,
      path: trace.trusted ? trace.chain.map(describeModel) : null,
      revocation,
      checks,
      hints,
      strict: strictVerify({
        presented,
        anchors: store.anchors,
        at: options.at,
        purpose: options.purpose ?? 'client',
        nginxAccepted: nginx === 'SUCCESS',
        sigCache,
      }),
    };
  }

  return {
    judge,
    trace: (presentedDer, options) => runTrace(presentedDer.map(parsePresented), options),
    anchors: store.anchors.map(describeModel),
  };
}

/**
 * A presented certificate that does not decode. OpenSSL would reject the TLS Certificate
 * message itself, so nginx never evaluates $ssl_client_verify; the string below says so
 * instead of pretending to be an OpenSSL verify message.
 */
function malformedVerdict(presentedDer: Uint8Array[], message: string): Verdict {
  return {
    status: 'failed',
    reason: 'malformed',
    nginx: 'FAILED:certificate does not decode (nginx aborts the TLS handshake)',
    openssl: null,
    haproxy: haproxyVerdict(true, null),
    kong: kongMessage('failed'),
    presented: [],
    presentedCount: presentedDer.length,
    path: null,
    revocation: { checked: false, source: 'none', status: 'unknown' },
    checks: [{ name: 'certificate', ok: false, detail: `${presentedDer.length} certificate(s) presented; ${message}` }],
    hints: [
      'A presented certificate does not decode as X.509 DER. Re-export it from the CA (PEM or DER) and check that the file was not truncated or edited.',
    ],
    strict: strictMalformed(`a presented certificate does not decode: ${message}`),
  };
}

/** One-off judgment. For repeated judgments against the same anchors and CRLs use createJudge. */
export function judgeChain(params: JudgeChainParams): Verdict {
  const { presented, anchors, crls, knownIssuers, ...options } = params;
  return createJudge({ anchors, crls, knownIssuers }).judge(presented, options);
}

export type { VerifyEvent, VerifyTrace };
