/**
 * The judge's strict verdict: RFC 5280 path validation plus the web-PKI rules that the strictest
 * common verifiers (Go crypto/x509, rustls/webpki, Java PKIX, BoringSSL as in Envoy,
 * pyca/cryptography) apply, beside the nginx/OpenSSL replay. nginx accepts chains these refuse
 * (no AKI, anyExtendedKeyUsage, a P-192 key, a CN as the only host name...): this says which
 * verifier would refuse what, and why.
 *
 * Unlike OpenSSL's first-match issuer lookup, the path builder backtracks over every candidate
 * issuer (name, AKI/SKI, signature) with no depth limit, bounded only by a work budget, so a
 * cross-signed or stale intermediate does not hide a good path. Pure: the time is a parameter.
 * Certificate policies (policyConstraints, inhibitAnyPolicy, policyMappings) are not evaluated.
 */
import { children, content, LENIENT, oidOf, readOne, TAG } from '../der.ts';
import { OID } from '../oids.ts';
import { X509_V } from './openssl-codes.ts';
import { type SignatureCache, verifySignature } from './openssl-verify.ts';
import { nameConstraintsCheck, nameConstraintsCheckCn } from './name-checks.ts';
import { attributeValues } from './x509-name.ts';
import { EXFLAG, KU, type CertModel, sigAlgMatchesKey } from './x509-model.ts';

export const STRICT_VERIFIERS = ['go', 'rustls/webpki', 'java', 'boringssl/envoy', 'pyca/cryptography'] as const;
export type StrictVerifier = (typeof STRICT_VERIFIERS)[number];

/** The strict rules, in the order the checks are listed; a failed verdict's reason is the first that fails. */
export const STRICT_RULES = [
  'path',
  'validity',
  'ca',
  'path_length',
  'key_usage',
  'name_constraints',
  'critical_extensions',
  'extensions',
  'signature_algorithm',
  'key',
  'serial',
  'authority_key_id',
  'subject_key_id',
  'leaf_ca',
  'eku',
  'wildcard',
  'host_name',
  'policies',
] as const;
export type StrictRule = (typeof STRICT_RULES)[number];

export interface StrictCheck {
  name: StrictRule;
  ok: boolean;
  detail: string;
  /** Verifiers that, by their default policy, refuse a certificate failing this check ([] when ok). */
  refusedBy: StrictVerifier[];
}

export interface StrictPathEntry {
  subject: string;
  issuer: string;
  fingerprintSha256: string;
}

export interface StrictVerdict {
  status: 'verified' | 'failed' | 'absent';
  reason: StrictRule | 'malformed' | null;
  checks: StrictCheck[];
  /** The path judged, leaf to trust anchor: the first one that passes, else the one failing fewest checks. */
  path: StrictPathEntry[] | null;
  /** Only when nginx accepts and the strict verdict refuses: which verifiers would refuse, and why. */
  hint: string | null;
}

export interface StrictParams {
  presented: CertModel[];
  anchors: CertModel[];
  at: Date;
  purpose: 'client' | 'server';
  /** nginx said SUCCESS: a strict refusal then gets a hint naming the verifiers that differ. */
  nginxAccepted: boolean;
  sigCache?: SignatureCache;
}

// Who refuses what, by default policy (each project's documentation and x509-limbo results as
// of 2025). Go and Java treat a missing EKU as any purpose, so no verifier here refuses that one:
// it is a CA/Browser Forum rule the strict judge applies anyway.
const ALL: StrictVerifier[] = [...STRICT_VERIFIERS];
const R = {
  path: ALL,
  validity: ALL,
  ca: ALL,
  pathLength: ALL,
  issuerKeyUsage: ['rustls/webpki', 'java', 'boringssl/envoy', 'pyca/cryptography'],
  issuerNoKeyUsage: ['pyca/cryptography'],
  nameConstraints: ALL,
  cnConstraint: ['boringssl/envoy'],
  critical: ALL,
  extensions: ALL,
  sha1: ['go', 'rustls/webpki', 'pyca/cryptography'],
  md5: ALL,
  dsa: ['go', 'rustls/webpki', 'boringssl/envoy', 'pyca/cryptography'],
  curve: ALL,
  rsa1024: ['rustls/webpki', 'pyca/cryptography'],
  rsaTiny: ALL,
  serialNotPositive: ['pyca/cryptography'],
  serialNegative: ['go', 'pyca/cryptography'],
  serialLong: ['pyca/cryptography'],
  aki: ['pyca/cryptography'],
  ski: ['pyca/cryptography'],
  leafCa: ['rustls/webpki', 'pyca/cryptography'],
  noEku: [],
  anyEku: ['rustls/webpki', 'pyca/cryptography'],
  wrongEku: ALL,
  wildcard: ['go', 'rustls/webpki', 'boringssl/envoy', 'pyca/cryptography'],
  hostName: ['go', 'rustls/webpki', 'boringssl/envoy', 'pyca/cryptography'],
} satisfies Record<string, StrictVerifier[]>;

const q = (s: string): string => `"${s}"`;
const who = (x: CertModel): string => q(x.subject.oneline || `serial ${x.serialHex}`);

// ---- path building ----------------------------------------------------------------------------

/** Work bound instead of a depth limit (Go uses a similar budget): signature checks and paths. */
const MAX_SIGNATURE_CHECKS = 256;
const MAX_PATHS = 64;

interface Builder {
  anchors: CertModel[];
  intermediates: CertModel[];
  sigCache?: SignatureCache;
  signatureChecks: number;
  /** Why candidates were set aside, for the `path` check when no path is found. */
  refusals: string[];
}

function isAnchor(b: Builder, x: CertModel): boolean {
  return b.anchors.some((a) => a.fingerprint === x.fingerprint);
}

/** RFC 4158 candidate test: issuer name, AKI key id against SKI when both exist, key type, signature. */
function issues(b: Builder, issuer: CertModel, x: CertModel): boolean {
  if (issuer.subject.canon !== x.issuer.canon) return false;
  const keyId = x.akid?.keyId;
  if (keyId && issuer.skid && Buffer.compare(Buffer.from(keyId), Buffer.from(issuer.skid)) !== 0) {
    b.refusals.push(`${who(issuer)} has the issuer name of ${who(x)} but another key identifier`);
    return false;
  }
  if (!sigAlgMatchesKey(issuer.key, x.sig)) {
    b.refusals.push(`${who(issuer)} has the issuer name of ${who(x)} but a key that cannot make its signature`);
    return false;
  }
  if (b.signatureChecks >= MAX_SIGNATURE_CHECKS) return false;
  b.signatureChecks++;
  if (!verifySignature(x, issuer, b.sigCache)) {
    b.refusals.push(`the signature of ${who(x)} does not verify with the key of ${who(issuer)}`);
    return false;
  }
  return true;
}

/** Every path from `path`'s last certificate to a trust anchor, depth first, anchors tried first. */
function* paths(b: Builder, path: CertModel[]): Generator<CertModel[]> {
  const x = path[path.length - 1];
  if (isAnchor(b, x)) {
    yield path;
    return;
  }
  const onPath = new Set(path.map((p) => p.fingerprint));
  const keysOnPath = new Set(path.map((p) => `${p.subject.canon}|${Buffer.from(p.key.spki).toString('hex')}`));
  for (const candidate of [...b.anchors, ...b.intermediates]) {
    if (onPath.has(candidate.fingerprint)) continue;
    // RFC 4158 §2.4.2: a name and key pair appears once in a path (no loops through cross-signs).
    if (keysOnPath.has(`${candidate.subject.canon}|${Buffer.from(candidate.key.spki).toString('hex')}`)) continue;
    if (!issues(b, candidate, x)) continue;
    yield* paths(b, [...path, candidate]);
  }
}

// ---- key facts the x509 model does not keep (curve OID, modulus size) --------------------------

interface KeyFacts {
  family: string;
  curve?: string;
  rsaBits?: number;
}

const CURVE_NAMES: Record<string, string> = {
  [OID.p256]: 'P-256',
  [OID.p384]: 'P-384',
  [OID.p521]: 'P-521',
  '1.2.840.10045.3.1.1': 'P-192',
  [OID.p224]: 'P-224',
  [OID.secp256k1]: 'secp256k1',
};
const WEB_PKI_CURVES = new Set<string>([OID.p256, OID.p384, OID.p521]);

function keyFacts(x: CertModel): KeyFacts {
  const facts: KeyFacts = { family: x.key.family };
  try {
    const [algId, bits] = children(readOne(x.key.spki, LENIENT, TAG.SEQUENCE));
    const [, params] = children(algId);
    if (x.key.family === 'EC') facts.curve = params?.tag === TAG.OID ? oidOf(params) : 'explicit';
    if (x.key.family === 'RSA' || x.key.family === 'RSA-PSS') {
      const [n] = children(readOne(content(bits).subarray(1), LENIENT, TAG.SEQUENCE));
      const c = content(n);
      let i = 0;
      while (i < c.length - 1 && c[i] === 0) i++;
      facts.rsaBits = (c.length - i - 1) * 8 + (32 - Math.clz32(c[i]));
    }
  } catch {
    // An undecodable key is reported by the key check as such.
  }
  return facts;
}

// ---- the rules ----------------------------------------------------------------------------------

interface Finding {
  detail: string;
  refusedBy: StrictVerifier[];
}

interface PathContext {
  path: CertModel[];
  at: number;
  purpose: 'client' | 'server';
}

const selfIssued = (x: CertModel): boolean => (x.flags & EXFLAG.SI) !== 0;

/** Every certificate but the trust anchor: RFC 5280 §6.1 processes those, not the anchor. */
const processed = (c: PathContext): CertModel[] => c.path.slice(0, -1);
/** Issuers below the anchor (intermediates). */
const intermediates = (c: PathContext): CertModel[] => c.path.slice(1, -1);

function validity(c: PathContext): Finding[] {
  const out: Finding[] = [];
  for (const x of c.path) {
    const nb = x.notBefore.epoch;
    const na = x.notAfter.epoch;
    if (nb === null || na === null) out.push({ detail: `${who(x)} has an unreadable validity time`, refusedBy: R.validity });
    else if (c.at < nb) out.push({ detail: `${who(x)} is not valid before ${x.notBefore.iso}`, refusedBy: R.validity });
    else if (c.at > na) out.push({ detail: `${who(x)} expired on ${x.notAfter.iso}`, refusedBy: R.validity });
  }
  return out;
}

function caFlag(c: PathContext): Finding[] {
  return intermediates(c)
    .filter((x) => (x.flags & EXFLAG.CA) === 0)
    .map((x) => ({
      detail: `${who(x)} issues certificates but ${x.flags & EXFLAG.BCONS ? 'its basicConstraints say cA=FALSE' : 'has no basicConstraints'} (RFC 5280 §4.2.1.9)`,
      refusedBy: R.ca,
    }));
}

function pathLength(c: PathContext): Finding[] {
  const out: Finding[] = [];
  for (let i = 1; i < c.path.length; i++) {
    const x = c.path[i];
    if (x.pathlen < 0) continue;
    // Non-self-issued intermediates between this CA and the leaf (RFC 5280 §6.1.4 (l), (m)).
    const below = c.path.slice(1, i).filter((y) => !selfIssued(y)).length;
    if (below > x.pathlen)
      out.push({ detail: `${who(x)} allows ${x.pathlen} intermediate(s) below it, the path has ${below}`, refusedBy: R.pathLength });
  }
  return out;
}

function issuerKeyUsage(c: PathContext): Finding[] {
  const out: Finding[] = [];
  for (const x of intermediates(c)) {
    if (!(x.flags & EXFLAG.KUSAGE))
      out.push({ detail: `${who(x)} is a CA without keyUsage (RFC 5280 §4.2.1.3: CAs MUST have it)`, refusedBy: R.issuerNoKeyUsage });
    else if (!(x.ku & KU.KEY_CERT_SIGN))
      out.push({ detail: `${who(x)} issues certificates but its keyUsage lacks keyCertSign`, refusedBy: R.issuerKeyUsage });
  }
  return out;
}

const NC_WORDS: Record<number, string> = {
  [X509_V.PERMITTED_VIOLATION]: 'is outside the permitted subtrees',
  [X509_V.EXCLUDED_VIOLATION]: 'is in an excluded subtree',
  [X509_V.SUBTREE_MINMAX]: 'meets a subtree with a minimum or maximum (unsupported)',
  [X509_V.UNSUPPORTED_CONSTRAINT_TYPE]: 'meets a constraint of an unsupported type',
  [X509_V.UNSUPPORTED_CONSTRAINT_SYNTAX]: 'meets a constraint of unsupported syntax',
  [X509_V.UNSUPPORTED_NAME_SYNTAX]: 'has a name of unsupported syntax',
};

/** Name constraints of every CA (anchor included, as Go and webpki do) on every name below it, the CN too. */
function nameConstraints(c: PathContext): Finding[] {
  const out: Finding[] = [];
  for (let j = 1; j < c.path.length; j++) {
    const nc = c.path[j].nc;
    if (!nc) continue;
    for (let i = 0; i < j; i++) {
      const x = c.path[i];
      // RFC 5280 §6.1.3 (b): self-issued intermediates are exempt, the leaf never is.
      if (i > 0 && selfIssued(x)) continue;
      const r = nameConstraintsCheck(x, nc);
      if (r !== X509_V.OK) {
        out.push({ detail: `a name of ${who(x)} ${NC_WORDS[r] ?? 'violates'} of ${who(c.path[j])}`, refusedBy: R.nameConstraints });
        continue;
      }
      if (i !== 0) continue;
      const cn = nameConstraintsCheckCn(x, nc);
      if (cn !== X509_V.OK) {
        // OpenSSL (and BoringSSL) check a host-like CN only when there is no DNS SAN.
        const hasDns = (x.san ?? []).some((g) => g.kind === 'dns');
        out.push({
          detail: `the commonName of ${who(x)}, a host name, ${NC_WORDS[cn] ?? 'violates'} of ${who(c.path[j])}${hasDns ? ' (OpenSSL skips the CN when a DNS SAN exists)' : ''}`,
          refusedBy: hasDns ? [] : R.cnConstraint,
        });
      }
    }
  }
  return out;
}

const HANDLED_CRITICAL_EXTRA = new Set<string>([OID.subjectKeyIdentifier, OID.authorityKeyIdentifier]);

function criticalExtensions(c: PathContext): Finding[] {
  const out: Finding[] = [];
  for (const x of processed(c)) {
    const unknown = x.criticalUnhandled.filter((o) => !HANDLED_CRITICAL_EXTRA.has(o));
    if (unknown.length) out.push({ detail: `${who(x)} has unknown critical extension(s) ${unknown.join(', ')}`, refusedBy: R.critical });
  }
  return out;
}

function extensionsWellFormed(c: PathContext): Finding[] {
  return processed(c)
    .filter((x) => x.invalidReasons.length > 0)
    .map((x) => ({ detail: `${who(x)}: ${x.invalidReasons.join('; ')}`, refusedBy: R.extensions }));
}

function signatureAlgorithm(c: PathContext): Finding[] {
  const out: Finding[] = [];
  for (const x of processed(c)) {
    if (x.sig.hash === 'sha1') out.push({ detail: `${who(x)} is signed with SHA-1`, refusedBy: R.sha1 });
    else if (x.sig.hash === 'md5' || x.sig.oid === OID.md5WithRsa) out.push({ detail: `${who(x)} is signed with MD5`, refusedBy: R.md5 });
  }
  return out;
}

function keys(c: PathContext): Finding[] {
  const out: Finding[] = [];
  for (const x of c.path) {
    const k = keyFacts(x);
    if (k.family === 'DSA') out.push({ detail: `${who(x)} has a DSA key`, refusedBy: R.dsa });
    else if (k.family === 'EC' && !WEB_PKI_CURVES.has(k.curve ?? '')) {
      const curve = k.curve === 'explicit' ? 'explicit curve parameters' : (CURVE_NAMES[k.curve ?? ''] ?? `curve ${k.curve}`);
      out.push({ detail: `${who(x)} has an EC key on ${curve} (only P-256, P-384, P-521)`, refusedBy: R.curve });
    } else if (k.rsaBits !== undefined && k.rsaBits < 2048)
      out.push({
        detail: `${who(x)} has an RSA key of ${k.rsaBits} bits (at least 2048)`,
        refusedBy: k.rsaBits < 1024 ? R.rsaTiny : R.rsa1024,
      });
    else if (k.family === 'unknown' || !x.key.valid)
      out.push({ detail: `${who(x)} has a key of an unknown or undecodable type`, refusedBy: ALL });
  }
  return out;
}

function serials(c: PathContext): Finding[] {
  const out: Finding[] = [];
  for (const x of processed(c)) {
    const octets = x.serialHex.length / 2;
    if (x.serial < 0n) out.push({ detail: `${who(x)} has a negative serial`, refusedBy: R.serialNegative });
    else if (x.serial === 0n) out.push({ detail: `${who(x)} has serial 0 (RFC 5280 §4.1.2.2: positive)`, refusedBy: R.serialNotPositive });
    else if (octets > 20) out.push({ detail: `${who(x)} has a serial of ${octets} octets (at most 20)`, refusedBy: R.serialLong });
  }
  return out;
}

function authorityKeyId(c: PathContext): Finding[] {
  return processed(c)
    .filter((x) => !(selfIssued(x) && x.flags & EXFLAG.SS) && !x.akid?.keyId)
    .map((x) => ({ detail: `${who(x)} has no authorityKeyIdentifier key id (RFC 5280 §4.2.1.1)`, refusedBy: R.aki }));
}

function subjectKeyId(c: PathContext): Finding[] {
  return intermediates(c)
    .filter((x) => !x.skid)
    .map((x) => ({ detail: `CA ${who(x)} has no subjectKeyIdentifier (RFC 5280 §4.2.1.2)`, refusedBy: R.ski }));
}

function leafCa(c: PathContext): Finding[] {
  const leaf = c.path[0];
  if (c.path.length < 2 || !(leaf.flags & EXFLAG.CA)) return [];
  return [{ detail: `the leaf ${who(leaf)} says cA=TRUE: a CA certificate used as an end entity`, refusedBy: R.leafCa }];
}

function eku(c: PathContext): Finding[] {
  const leaf = c.path[0];
  const want = c.purpose === 'client' ? OID.clientAuth : OID.serverAuth;
  const name = c.purpose === 'client' ? 'clientAuth' : 'serverAuth';
  const ekus = leaf.ekuOids;
  if (ekus === null)
    return [{ detail: `the leaf has no extendedKeyUsage; ${name} is required (CA/B Forum BR §7.1.2.7.10)`, refusedBy: R.noEku }];
  if (ekus.includes(want)) return [];
  if (ekus.includes(OID.anyExtendedKeyUsage))
    return [{ detail: `the leaf relies on anyExtendedKeyUsage instead of ${name}`, refusedBy: R.anyEku }];
  return [{ detail: `the leaf's extendedKeyUsage does not include ${name}`, refusedBy: R.wrongEku }];
}

/** RFC 6125 §6.4.3 as the strict matchers read it: a wildcard is the whole left-most label of 3+ labels. */
function wildcardProblem(dns: string): string | null {
  if (!dns.includes('*')) return null;
  const labels = dns.split('.');
  if (labels[0] !== '*')
    return labels.slice(1).some((l) => l.includes('*')) ? 'a wildcard outside the left-most label' : 'a partial-label wildcard';
  if (labels.slice(1).some((l) => l.includes('*'))) return 'more than one wildcard';
  if (labels.length < 3) return 'a wildcard directly over a top-level domain';
  return null;
}

function wildcards(c: PathContext): Finding[] {
  const leaf = c.path[0];
  const out: Finding[] = [];
  for (const g of leaf.san ?? []) {
    if (g.kind !== 'dns') continue;
    const p = wildcardProblem(g.value);
    if (p) out.push({ detail: `SAN DNS:${g.value} has ${p}`, refusedBy: R.wildcard });
  }
  for (const a of attributeValues(leaf.subject, OID.commonName)) {
    const p = wildcardProblem(a.value);
    if (p && a.value.includes('.')) out.push({ detail: `CN ${q(a.value)} has ${p}`, refusedBy: R.wildcard });
  }
  return out;
}

const HOST_LIKE = /^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.)+[a-z0-9_-]*[a-z]([a-z0-9_-]*[a-z0-9])?\.?$/i;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Host identities come from the SAN only (RFC 6125, CA/B Forum): a server certificate needs a DNS
 * or IP SAN; a client certificate whose only host name is its CN would be matched on the CN,
 * which Go, rustls and Envoy's SAN matchers never read.
 */
function hostName(c: PathContext): Finding[] {
  const leaf = c.path[0];
  const san = leaf.san ?? [];
  const cns = attributeValues(leaf.subject, OID.commonName).map((a) => a.value);
  if (c.purpose === 'server') {
    if (san.some((g) => g.kind === 'dns' || g.kind === 'ip')) return [];
    return [
      {
        detail: `the server certificate has no DNS or IP SAN${cns.length ? `; its CN ${q(cns[0])} is never used as a host name` : ''}`,
        refusedBy: R.hostName,
      },
    ];
  }
  if (san.length > 0) return [];
  const host = cns.find((v) => HOST_LIKE.test(v) || IPV4.test(v));
  if (!host) return [];
  return [
    { detail: `no subjectAltName: the host name ${q(host)} is only in the CN, which is never used as a host name`, refusedBy: R.hostName },
  ];
}

const RULES: Array<[StrictRule, (c: PathContext) => Finding[], string]> = [
  ['validity', validity, 'every certificate of the path is valid at the given time'],
  ['ca', caFlag, 'every intermediate is a CA (basicConstraints cA=TRUE)'],
  ['path_length', pathLength, 'every pathLenConstraint holds'],
  ['key_usage', issuerKeyUsage, 'every intermediate has keyUsage keyCertSign'],
  ['name_constraints', nameConstraints, 'every name (SAN, subject, CN) is within every CA name constraint'],
  ['critical_extensions', criticalExtensions, 'no unknown critical extension'],
  ['extensions', extensionsWellFormed, 'every extension decodes, none repeats'],
  ['signature_algorithm', signatureAlgorithm, 'no SHA-1 or MD5 signature'],
  ['key', keys, 'keys are RSA >= 2048, EC P-256/P-384/P-521 or Ed25519 (no DSA)'],
  ['serial', serials, 'serials are positive and at most 20 octets'],
  ['authority_key_id', authorityKeyId, 'every certificate not self-signed has an authorityKeyIdentifier'],
  ['subject_key_id', subjectKeyId, 'every intermediate has a subjectKeyIdentifier'],
  ['leaf_ca', leafCa, 'the leaf is not a CA (cA=FALSE or no basicConstraints)'],
  ['eku', eku, 'the leaf has extendedKeyUsage with the wanted purpose'],
  ['wildcard', wildcards, 'wildcards are whole left-most labels only'],
  ['host_name', hostName, 'host names come from the subjectAltName, never the CN'],
];

interface Evaluated {
  path: CertModel[];
  checks: StrictCheck[];
  failures: number;
}

function evaluate(path: CertModel[], at: number, purpose: 'client' | 'server'): Evaluated {
  const c: PathContext = { path, at, purpose };
  const chainText = path.map(who).join(' -> ');
  const checks: StrictCheck[] = [
    { name: 'path', ok: true, detail: `path to a trust anchor, every signature verifies: ${chainText}`, refusedBy: [] },
  ];
  let failures = 0;
  for (const [name, rule, okText] of RULES) {
    const found = rule(c);
    if (found.length) failures++;
    const refusedBy = STRICT_VERIFIERS.filter((v) => found.some((f) => f.refusedBy.includes(v)));
    checks.push({ name, ok: found.length === 0, detail: found.length ? found.map((f) => f.detail).join('; ') : okText, refusedBy });
  }
  checks.push({
    name: 'policies',
    ok: true,
    detail: 'not evaluated: certificate policies, policyConstraints, policyMappings and inhibitAnyPolicy',
    refusedBy: [],
  });
  return { path, checks, failures };
}

const entry = (x: CertModel): StrictPathEntry => ({
  subject: x.subject.oneline,
  issuer: x.issuer.oneline,
  fingerprintSha256: x.fingerprint,
});

const VERIFIER_NAMES: Record<StrictVerifier, string> = {
  go: 'Go (crypto/x509)',
  'rustls/webpki': 'rustls/webpki',
  java: 'Java (PKIX)',
  'boringssl/envoy': 'BoringSSL (Envoy)',
  'pyca/cryptography': 'pyca/cryptography',
};

function hintFor(checks: StrictCheck[]): string {
  const failed = checks.filter((c) => !c.ok);
  const parts = STRICT_VERIFIERS.map((v) => {
    const why = failed.filter((c) => c.refusedBy.includes(v)).map((c) => c.name.replace(/_/g, ' '));
    return why.length ? `${VERIFIER_NAMES[v]} (${why.join(', ')})` : null;
  }).filter((p): p is string => p !== null);
  const rulesOnly = failed.filter((c) => c.refusedBy.length === 0).map((c) => c.name.replace(/_/g, ' '));
  const first = failed[0];
  let text = `nginx (OpenSSL) accepts this chain, but the strict rules do not: ${first.detail}.`;
  if (parts.length) text += ` Refused by ${parts.join(', ')}.`;
  if (rulesOnly.length)
    text += ` ${parts.length ? 'Also against' : 'Against'} RFC 5280 / CA/B Forum rules that none of ${STRICT_VERIFIERS.join(', ')} enforces by default: ${rulesOnly.join(', ')}.`;
  // Only a path nginx did not find needs the chain changed; everything else is in the certificates.
  return `${text} ${first.name === 'path' ? 'Send a chain that leads to a trust anchor.' : 'Reissue from a profile that meets these rules if the certificate must pass those verifiers too.'}`;
}

/** The strict verdict for a presented chain (leaf first) against the trust anchors. */
export function strictVerify(params: StrictParams): StrictVerdict {
  const { presented, anchors, purpose } = params;
  if (presented.length === 0) return strictAbsent();
  const at = Math.floor(params.at.getTime() / 1000);
  const leaf = presented[0];
  const b: Builder = {
    anchors,
    intermediates: presented.slice(1).filter((x) => x.fingerprint !== leaf.fingerprint),
    sigCache: params.sigCache,
    signatureChecks: 0,
    refusals: [],
  };
  let best: Evaluated | null = null;
  let tried = 0;
  for (const path of paths(b, [leaf])) {
    const e = evaluate(path, at, purpose);
    if (!best || e.failures < best.failures) best = e;
    if (e.failures === 0 || ++tried >= MAX_PATHS) break;
  }
  if (!best) {
    const why = b.refusals.length ? `; ${[...new Set(b.refusals)].join('; ')}` : '';
    const budget = b.signatureChecks >= MAX_SIGNATURE_CHECKS ? ` (stopped after ${MAX_SIGNATURE_CHECKS} signature checks)` : '';
    const checks: StrictCheck[] = [
      {
        name: 'path',
        ok: false,
        detail: `no path from ${who(leaf)} through the presented certificates to a trust anchor${why}${budget}`,
        refusedBy: R.path,
      },
    ];
    return { status: 'failed', reason: 'path', checks, path: null, hint: params.nginxAccepted ? hintFor(checks) : null };
  }
  const failed = best.checks.find((c) => !c.ok);
  return {
    status: failed ? 'failed' : 'verified',
    reason: failed ? failed.name : null,
    checks: best.checks,
    path: best.path.map(entry),
    hint: failed && params.nginxAccepted ? hintFor(best.checks) : null,
  };
}

/** No certificate presented. */
export function strictAbsent(): StrictVerdict {
  return { status: 'absent', reason: null, checks: [], path: null, hint: null };
}

/** A presented certificate does not decode: no verifier gets as far as a path. */
export function strictMalformed(message: string): StrictVerdict {
  return {
    status: 'failed',
    reason: 'malformed',
    checks: [{ name: 'path', ok: false, detail: message, refusedBy: ALL }],
    path: null,
    hint: null,
  };
}
