/** Certificate profiles: the six kinds' KU, EKU, basic constraints and subject rules, and the name policy. */
import { isIP } from 'node:net';
import {
  bytesToIp,
  ipToBytes,
  sanCount,
  type CertificateParams,
  type CertificateRole,
  type ExtKeyUsageName,
  type KeyUsageName,
  type PublicKeyFacts,
  type SanType,
  type Sans,
  type SubjectInput,
} from '@anvil/pki';
import { invalid } from './errors.ts';

/**
 * Profiles are data: a kind (which decides the extensions, per the DESIGN.md table) plus a
 * policy (which names, keys and lifetimes are allowed). "Where is the EKU for client
 * certificates decided?" — in PROFILE_KINDS below, which holds every row of that table: the
 * three end-entity kinds a profile may have, the two CA kinds and the OCSP signer.
 */
export type ProfileKind = 'server' | 'client' | 'peer';

/** The subject rules of a kind; checkSubject applies them. */
export interface SubjectRules {
  /** Why the CN is required (it is, when this is set); null when it is optional. */
  cnRequired: string | null;
  /** Whether the CN must be one of the SANs (server names) or is an identity of its own. */
  cnMustBeSan: boolean;
  /** At least one SAN (end entities), or none at all (CAs, the OCSP signer). */
  sans: 'required' | 'none';
}

export interface CertificateKind {
  /** How messages name the kind. */
  label: string;
  keyUsage: KeyUsageName[];
  /** Added for RSA keys (TLS 1.2 RSA key exchange). */
  rsaKeyUsage: KeyUsageName[];
  extKeyUsage: ExtKeyUsageName[];
  basicConstraints: CertificateParams['basicConstraints'];
  /** id-pkix-ocsp-nocheck: clients need not ask about the responder's own certificate. */
  ocspNoCheck: boolean;
  subject: SubjectRules;
}

const SERVER_SUBJECT: SubjectRules = { cnRequired: null, cnMustBeSan: true, sans: 'required' };
const CA_SUBJECT: SubjectRules = { cnRequired: 'it names the CA in every chain', cnMustBeSan: false, sans: 'none' };

export const PROFILE_KINDS: Record<CertificateRole, CertificateKind> = {
  server: {
    label: 'server',
    keyUsage: ['digitalSignature'],
    rsaKeyUsage: ['keyEncipherment'],
    extKeyUsage: ['serverAuth'],
    basicConstraints: { ca: false },
    ocspNoCheck: false,
    subject: SERVER_SUBJECT,
  },
  client: {
    label: 'client',
    keyUsage: ['digitalSignature'],
    rsaKeyUsage: [],
    extKeyUsage: ['clientAuth'],
    basicConstraints: { ca: false },
    ocspNoCheck: false,
    subject: { cnRequired: 'gateways map consumers by CN', cnMustBeSan: false, sans: 'required' },
  },
  peer: {
    label: 'peer',
    keyUsage: ['digitalSignature'],
    rsaKeyUsage: ['keyEncipherment'],
    extKeyUsage: ['serverAuth', 'clientAuth'],
    basicConstraints: { ca: false },
    ocspNoCheck: false,
    subject: SERVER_SUBJECT,
  },
  // Intermediates issue end entities only: pathLen 0 keeps a leaked intermediate key from minting CAs.
  intermediate: {
    label: 'intermediate CA',
    keyUsage: ['keyCertSign', 'cRLSign'],
    rsaKeyUsage: [],
    extKeyUsage: [],
    basicConstraints: { ca: true, pathLen: 0 },
    ocspNoCheck: false,
    subject: CA_SUBJECT,
  },
  root: {
    label: 'root CA',
    keyUsage: ['keyCertSign', 'cRLSign'],
    rsaKeyUsage: [],
    extKeyUsage: [],
    basicConstraints: { ca: true },
    ocspNoCheck: false,
    subject: CA_SUBJECT,
  },
  ocsp: {
    label: 'OCSP signer',
    keyUsage: ['digitalSignature'],
    rsaKeyUsage: [],
    extKeyUsage: ['ocspSigning'],
    basicConstraints: { ca: false },
    ocspNoCheck: true,
    subject: { cnRequired: 'it names the responder', cnMustBeSan: false, sans: 'none' },
  },
};

/** The extension parameters of a certificate of `kind` for a key of `keyFamily`. */
export function kindExtensions(
  kind: CertificateRole,
  keyFamily: string,
): Pick<CertificateParams, 'keyUsage' | 'extKeyUsage' | 'basicConstraints' | 'ocspNoCheck'> {
  const k = PROFILE_KINDS[kind];
  return {
    keyUsage: [...k.keyUsage, ...(keyFamily === 'RSA' ? k.rsaKeyUsage : [])],
    ...(k.extKeyUsage.length ? { extKeyUsage: k.extKeyUsage } : {}),
    basicConstraints: k.basicConstraints,
    ...(k.ocspNoCheck ? { ocspNoCheck: true } : {}),
  };
}

export type KeyFamilyName = 'EC-P256' | 'EC-P384' | 'RSA' | 'Ed25519';

export interface ProfilePolicy {
  sanTypes: SanType[];
  /** When set, every DNS SAN must equal a suffix or end with "." + suffix. */
  dnsSuffixes?: string[];
  allowWildcards: boolean;
  ipCidrs?: string[];
  uriPrefixes?: string[];
  emailDomains?: string[];
  keyAlgorithms: KeyFamilyName[];
  minRsaBits: number;
  /** Seconds. */
  defaultTtl: number;
  maxTtl: number;
  /** Issuer name; unset means the default issuing CA. */
  issuer?: string;
  /** ACME enrollment (RFC 8555) at /acme/{profile}/directory; absent or not enabled: no directory. */
  acme?: AcmePolicy;
}

/** The ACME challenge types Anvil can validate: the one list the API's schema and the policy type read. */
export const ACME_CHALLENGE_TYPES = ['http-01', 'dns-01', 'tls-alpn-01'] as const;
export type AcmeChallengeType = (typeof ACME_CHALLENGE_TYPES)[number];

/** Whether a profile answers ACME, whether accounts need an External Account Binding, and which challenges it offers. */
export interface AcmePolicy {
  enabled: boolean;
  requireEab: boolean;
  challenges: AcmeChallengeType[];
}

export interface Profile {
  name: string;
  kind: ProfileKind;
  builtin: boolean;
  policy: ProfilePolicy;
}

const DAY = 86_400;
const ALL_KEYS: KeyFamilyName[] = ['EC-P256', 'EC-P384', 'RSA', 'Ed25519'];

/** Built-ins accept any well-formed name of their SAN types until an admin narrows them. */
export const BUILTIN_PROFILES: Profile[] = [
  {
    name: 'server',
    kind: 'server',
    builtin: true,
    policy: {
      sanTypes: ['dns', 'ip'],
      allowWildcards: true,
      keyAlgorithms: ALL_KEYS,
      minRsaBits: 2048,
      defaultTtl: 90 * DAY,
      maxTtl: 397 * DAY,
    },
  },
  {
    name: 'client',
    kind: 'client',
    builtin: true,
    policy: {
      sanTypes: ['dns', 'uri', 'email', 'ip'],
      allowWildcards: false,
      keyAlgorithms: ALL_KEYS,
      minRsaBits: 2048,
      defaultTtl: 90 * DAY,
      maxTtl: 397 * DAY,
    },
  },
  {
    name: 'peer',
    kind: 'peer',
    builtin: true,
    policy: {
      sanTypes: ['dns', 'ip', 'uri'],
      allowWildcards: false,
      keyAlgorithms: ALL_KEYS,
      minRsaBits: 2048,
      defaultTtl: 90 * DAY,
      maxTtl: 397 * DAY,
    },
  },
];

export const MAX_SANS = 100;

// ---- well-formedness -------------------------------------------------------------------------

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function isDnsName(name: string, allowWildcard: boolean): boolean {
  if (name.length === 0 || name.length > 253 || name.endsWith('.')) return false;
  const labels = name.split('.');
  if (labels.length < 1) return false;
  return labels.every((label, i) => (i === 0 && allowWildcard && label === '*' && labels.length > 2) || LABEL.test(label));
}

function isUri(value: string): boolean {
  // A URI SAN is an IA5String (RFC 5280 4.2.1.6): printable ASCII only; IRIs must be percent-encoded.
  if (!/^[\x21-\x7e]+$/.test(value)) return false;
  try {
    const u = new URL(value);
    return /^[a-z][a-z0-9+.-]*:$/.test(u.protocol);
  } catch {
    return false;
  }
}

const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

function cidrContains(cidr: string, ip: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const kind = isIP(base);
  if (kind === 0 || isIP(ip) !== kind) return false;
  const toBits = (a: string) =>
    kind === 4
      ? a
          .split('.')
          .map((o) => Number(o).toString(2).padStart(8, '0'))
          .join('')
      : expandIpv6(a)
          .map((h) => parseInt(h, 16).toString(2).padStart(16, '0'))
          .join('');
  const bits = bitsText === undefined ? (kind === 4 ? 32 : 128) : Number(bitsText);
  return toBits(base).slice(0, bits) === toBits(ip).slice(0, bits);
}

function expandIpv6(ip: string): string[] {
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  return ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
}

export function isValidCidr(cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const kind = isIP(base);
  if (!kind) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return Number.isInteger(n) && n >= 0 && n <= (kind === 4 ? 32 : 128);
}

/**
 * Characters no name in a certificate may hold: C0 and C1 controls and DEL (a NUL cuts a name
 * short in C code and PostgreSQL refuses it, CR LF forges log lines and headers), lone
 * surrogates (they have no UTF-8 encoding) and the bidirectional controls that make a name
 * display as another (U+202E "right-to-left override" and its kin).
 */
const FORBIDDEN_IN_NAMES =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;

/** Refuses a name (`field` says which: `subject.CN`, `sans.dns[0]`) holding a character of FORBIDDEN_IN_NAMES. */
export function checkNameText(field: string, value: string): void {
  const m = FORBIDDEN_IN_NAMES.exec(value);
  if (!m) return;
  const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  throw invalid(
    'invalid_name',
    `${field} holds U+${code} at position ${m.index}: names may not contain control, lone surrogate or bidirectional-override characters`,
    { field },
  );
}

/** Every attribute of a subject, through checkNameText. */
export function checkSubjectText(subject: SubjectInput): void {
  for (const [key, value] of Object.entries(subject)) if (value !== undefined) checkNameText(`subject.${key}`, value);
}

/**
 * The subject rules of `kind` (PROFILE_KINDS) over a subject and the SANs checkNames let
 * through: characters, SAN presence, CN presence and length, CN among the SANs. Returns the
 * subject to sign, a server name CN lower-cased as its DNS SAN is.
 */
export function checkSubject(kind: CertificateRole, subject: SubjectInput, sans: Sans): SubjectInput {
  const { label, subject: rules } = PROFILE_KINDS[kind];
  checkSubjectText(subject);
  if (rules.sans === 'required' && sanCount(sans) === 0)
    throw invalid('san_required', `a ${label} certificate needs at least one subject alternative name`);
  if (rules.sans === 'none' && sanCount(sans) > 0)
    throw invalid('san_not_allowed', `a ${label} certificate carries no subject alternative names`);
  if (rules.cnRequired && !subject.CN) throw invalid('cn_required', `a ${label} certificate needs a CN (${rules.cnRequired})`);
  if (subject.CN !== undefined && subject.CN.length > 64) throw invalid('invalid_subject', 'the CN is longer than 64 characters');
  if (rules.cnMustBeSan && subject.CN && !sans.dns.includes(subject.CN.toLowerCase()) && !sans.ip.includes(subject.CN)) {
    throw invalid('cn_not_in_sans', `the CN "${subject.CN}" must be one of the subject alternative names`);
  }
  return rules.cnMustBeSan && subject.CN ? { ...subject, CN: subject.CN.toLowerCase() } : subject;
}

/** Normalises names (lower-case DNS and email domains) and checks them against the policy. */
export function checkNames(profile: Profile, sans: Sans): Sans {
  for (const type of ['dns', 'ip', 'uri', 'email'] as const) {
    for (const [i, name] of sans[type].entries()) checkNameText(`sans.${type}[${i}]`, name);
  }
  const p = profile.policy;
  const total = sans.dns.length + sans.ip.length + sans.uri.length + sans.email.length;
  if (total > MAX_SANS) throw invalid('too_many_sans', `at most ${MAX_SANS} subject alternative names`);
  const out: Sans = {
    dns: sans.dns.map((d) => d.toLowerCase()),
    ip: sans.ip.map((ip) => ip.toLowerCase()),
    uri: [...sans.uri],
    email: sans.email.map((e) => e.replace(/@(.*)$/, (_, d: string) => `@${d.toLowerCase()}`)),
  };
  for (const type of ['dns', 'ip', 'uri', 'email'] as const) {
    if (out[type].length && !p.sanTypes.includes(type)) {
      throw invalid('san_type_not_allowed', `profile "${profile.name}" does not allow ${type} names`, { sanType: type });
    }
  }
  for (const name of out.dns) {
    if (name.startsWith('*') && !p.allowWildcards) {
      throw invalid('wildcard_not_allowed', `profile "${profile.name}" does not allow wildcard names (${name})`);
    }
    if (!isDnsName(name, p.allowWildcards))
      throw invalid('invalid_dns_name', `"${name}" is not a valid DNS name (a wildcard may only be the whole leftmost label)`);
    if (p.dnsSuffixes?.length) {
      const bare = name.startsWith('*.') ? name.slice(2) : name;
      // Names are lower-cased above; the policy keeps what the admin typed, so compare lower-case.
      const under = (s: string) => bare === s || bare.endsWith(`.${s}`);
      if (!p.dnsSuffixes.some((s) => under(s.toLowerCase()))) {
        throw invalid('san_not_allowed', `"${name}" is outside the DNS suffixes allowed by profile "${profile.name}"`);
      }
    }
  }
  for (const [i, ip] of out.ip.entries()) {
    // A zone id ("fe80::1%eth0") has no place in a certificate; isIP accepts it, so refuse it here.
    if (!isIP(ip) || ip.includes('%')) throw invalid('invalid_ip', `"${ip}" is not an IP address`);
    // The form the certificate shows, so the record and `q` agree with it (and no dotted tail reaches cidrContains).
    out.ip[i] = bytesToIp(ipToBytes(ip));
    if (p.ipCidrs?.length && !p.ipCidrs.some((c) => cidrContains(c, out.ip[i]))) {
      throw invalid('san_not_allowed', `${ip} is outside the IP ranges allowed by profile "${profile.name}"`);
    }
  }
  for (const uri of out.uri) {
    if (!isUri(uri)) throw invalid('invalid_uri', `"${uri}" is not an absolute URI`);
    if (p.uriPrefixes?.length && !p.uriPrefixes.some((pre) => uriHasPrefix(uri, pre))) {
      throw invalid('san_not_allowed', `"${uri}" does not start with a URI prefix allowed by profile "${profile.name}"`);
    }
  }
  for (const email of out.email) {
    if (!EMAIL.test(email)) throw invalid('invalid_email', `"${email}" is not an email address`);
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (p.emailDomains?.length && !p.emailDomains.some((d) => d.toLowerCase() === domain)) {
      throw invalid('san_not_allowed', `${email} is outside the email domains allowed by profile "${profile.name}"`);
    }
  }
  return out;
}

/**
 * A prefix that is only scheme and authority ("spiffe://prod.example") must end at the authority:
 * plain startsWith would let "spiffe://prod.example.evil/x" or "spiffe://prod.example@evil/x" through.
 * A prefix with a path ("spiffe://prod.example/ns/", "https://h/team-") matches as written.
 */
function uriHasPrefix(uri: string, prefix: string): boolean {
  if (!uri.startsWith(prefix)) return false;
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*$/i.test(prefix)) return true;
  const next = uri.charAt(prefix.length);
  return next === '' || next === '/' || next === '?' || next === '#';
}

/** Refuses keys the profile (or Anvil at all) does not accept. */
export function checkKey(profile: Profile, key: PublicKeyFacts): void {
  if (key.family === 'RSA' && key.bits < 2048) {
    throw invalid('weak_key', `RSA keys must be at least 2048 bits (got ${key.bits})`);
  }
  if (key.family === 'EC' && key.curve !== 'P-256' && key.curve !== 'P-384') {
    throw invalid('unsupported_key', `unsupported EC curve ${key.curve}; use P-256 or P-384`);
  }
  if (key.family === 'RSA' && key.bits > 8192) throw invalid('unsupported_key', 'RSA keys above 8192 bits are not accepted');
  const family: KeyFamilyName = key.family === 'RSA' ? 'RSA' : key.family === 'Ed25519' ? 'Ed25519' : (key.algorithm as KeyFamilyName);
  if (!profile.policy.keyAlgorithms.includes(family)) {
    throw invalid('key_not_allowed', `profile "${profile.name}" does not allow ${family} keys`);
  }
  if (key.family === 'RSA' && key.bits < profile.policy.minRsaBits) {
    throw invalid('weak_key', `profile "${profile.name}" needs RSA keys of at least ${profile.policy.minRsaBits} bits`);
  }
}

/** TTL: seconds, or a duration such as "90d", "720h", "30m", "3600s". */
export function parseTtl(ttl: string | number): number {
  if (typeof ttl === 'number') {
    if (!Number.isInteger(ttl) || ttl <= 0) throw invalid('invalid_ttl', 'ttl must be a positive whole number of seconds');
    return ttl;
  }
  const m = /^(\d+)(s|m|h|d)$/.exec(ttl.trim());
  if (!m) throw invalid('invalid_ttl', 'ttl must look like "3600s", "30m", "720h" or "90d"');
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (n <= 0) throw invalid('invalid_ttl', 'ttl must be positive');
  return n;
}

/** Validates a policy an admin submits; the server's zod schema has already checked the shape. */
export function checkPolicy(policy: ProfilePolicy): void {
  if (policy.defaultTtl > policy.maxTtl) throw invalid('invalid_policy', 'defaultTtl must not exceed maxTtl');
  if (policy.minRsaBits < 2048) throw invalid('invalid_policy', 'minRsaBits must be at least 2048');
  for (const c of policy.ipCidrs ?? []) if (!isValidCidr(c)) throw invalid('invalid_policy', `"${c}" is not a CIDR`);
  for (const s of policy.dnsSuffixes ?? [])
    if (!isDnsName(s.toLowerCase(), false)) throw invalid('invalid_policy', `"${s}" is not a DNS suffix`);
  if (policy.sanTypes.length === 0) throw invalid('invalid_policy', 'sanTypes must name at least one SAN type');
}
