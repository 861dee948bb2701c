/**
 * Name constraints of a CA (RFC 5280 4.2.1.10): read from what an operator writes, encoded as the
 * extension value, and checked on a leaf's names before it is signed — with OpenSSL's own matching
 * (validation/name-checks.ts ncMatch), so that what Anvil refuses is what `openssl verify` refuses.
 */
import { isIP } from 'node:net';
import { tlv, TAG } from './der.ts';
import { PkiError } from './errors.ts';
import { asciiBytes, bytesToIp, ipToBytes, type Sans } from './names.ts';
import { X509_V } from './validation/openssl-codes.ts';
import { cnDnsId, ncMatch } from './validation/name-checks.ts';
import type { GeneralName, NameConstraintsModel } from './validation/x509-model.ts';

export const NAME_CONSTRAINT_TYPES = ['dns', 'ip', 'uri', 'email'] as const;
export type NameConstraintType = (typeof NAME_CONSTRAINT_TYPES)[number];

/**
 * One side (permitted or excluded) of the constraints, in OpenSSL's forms: dns "example.com" (the
 * domain and every name under it) or ".example.com" (only names under it); ip a CIDR; uri a host
 * ("example.com" exactly, ".example.com" any host under it); email "example.com" (mailboxes at
 * that host), ".example.com" (at any host under it) or "user@example.com" (that one mailbox).
 */
export type NameConstraintList = Record<NameConstraintType, string[]>;

export interface NameConstraints {
  permitted: NameConstraintList;
  excluded: NameConstraintList;
}

export type NameConstraintsInput = { [side in keyof NameConstraints]?: Partial<NameConstraintList> };

/** A constraint that is not one of the forms above; `field` says which ("permitted.ip[0]"). */
export class NameConstraintError extends PkiError<'invalid_name_constraints'> {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super('invalid_name_constraints', message);
  }
}

/** A name of a leaf the constraints refuse, and why, as `openssl verify` would say it. */
export interface NameConstraintViolation {
  /** Where the name is: a SAN type, or "cn" for a host-name-like commonName checked as a DNS name. */
  type: NameConstraintType | 'cn';
  name: string;
  subtree: 'permitted' | 'excluded' | 'unsupported';
  /** The excluded constraint the name falls under, or the permitted ones it is outside of. */
  constraints: string[];
  /** OpenSSL's X509_V_ERR code: 47 permitted, 48 excluded, 53 unsupported name syntax. */
  opensslCode: number;
}

const MAX_PER_LIST = 100;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const LOCAL_PART = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$/;

const emptyList = (): NameConstraintList => ({ dns: [], ip: [], uri: [], email: [] });

function isDomain(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

/** "example.com" or ".example.com", lower-cased. */
function domainForm(value: string, field: string, what: string): string {
  const v = value.trim().toLowerCase();
  if (!isDomain(v.startsWith('.') ? v.slice(1) : v)) {
    throw new NameConstraintError(`${field}: "${value}" is not ${what} ("example.com" or ".example.com")`, field);
  }
  return v;
}

/** A CIDR with no host bits set, in the form the certificate shows ("10.0.0.0/8", "2001:db8::/32"). */
function cidrForm(value: string, field: string): string {
  const [base, bits, extra] = value.trim().split('/');
  const kind = isIP(base ?? '');
  const width = kind === 4 ? 32 : 128;
  const n = bits === undefined ? width : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
  if (!kind || base.includes('%') || extra !== undefined || !(n >= 0 && n <= width)) {
    throw new NameConstraintError(`${field}: "${value}" is not an IP range in CIDR form ("10.0.0.0/8", "2001:db8::/32")`, field);
  }
  const addr = ipToBytes(base);
  const mask = maskBytes(addr.length, n);
  if (addr.some((b, i) => (b & ~mask[i] & 0xff) !== 0)) {
    const network = bytesToIp(addr.map((b, i) => b & mask[i]));
    throw new NameConstraintError(`${field}: "${value}" has host bits set; write ${network}/${n}`, field);
  }
  return `${bytesToIp(addr)}/${n}`;
}

function maskBytes(length: number, bits: number): Uint8Array {
  const mask = new Uint8Array(length);
  for (let i = 0; i < length; i++) mask[i] = 0xff & ~(0xff >> Math.max(0, Math.min(8, bits - i * 8)));
  return mask;
}

function uriHostForm(value: string, field: string): string {
  if (/[/:@]/.test(value)) {
    throw new NameConstraintError(`${field}: "${value}" must be a host ("example.com" or ".example.com"), not a URI`, field);
  }
  return domainForm(value, field, 'a URI host');
}

function emailForm(value: string, field: string): string {
  const v = value.trim();
  const at = v.lastIndexOf('@');
  if (at < 0) return domainForm(v, field, 'an email domain');
  const local = v.slice(0, at);
  const host = v.slice(at + 1).toLowerCase();
  if (!LOCAL_PART.test(local) || !isDomain(host)) {
    throw new NameConstraintError(`${field}: "${value}" is not an email address or domain`, field);
  }
  // The local part is compared case-sensitively by OpenSSL: kept as written.
  return `${local}@${host}`;
}

const FORMS: Record<NameConstraintType, (value: string, field: string) => string> = {
  dns: (v, f) => domainForm(v, f, 'a DNS domain'),
  ip: cidrForm,
  uri: uriHostForm,
  email: emailForm,
};

/**
 * Checks and normalises constraints an operator wrote (lower-case domains, CIDRs without host
 * bits, duplicates dropped). Throws NameConstraintError naming the first bad entry; refuses
 * constraints that constrain nothing.
 */
export function parseNameConstraints(input: NameConstraintsInput): NameConstraints {
  const out: NameConstraints = { permitted: emptyList(), excluded: emptyList() };
  for (const side of ['permitted', 'excluded'] as const) {
    const given = input[side] ?? {};
    for (const key of Object.keys(given)) {
      if (!(NAME_CONSTRAINT_TYPES as readonly string[]).includes(key)) {
        throw new NameConstraintError(`${side}.${key}: name constraints are dns, ip, uri or email`, `${side}.${key}`);
      }
    }
    for (const type of NAME_CONSTRAINT_TYPES) {
      const values = given[type] ?? [];
      if (values.length > MAX_PER_LIST) {
        throw new NameConstraintError(`${side}.${type}: at most ${MAX_PER_LIST} constraints`, `${side}.${type}`);
      }
      const seen = new Set<string>();
      for (const [i, value] of values.entries()) {
        const form = FORMS[type](String(value), `${side}.${type}[${i}]`);
        if (!seen.has(form)) out[side][type].push(form);
        seen.add(form);
      }
    }
  }
  if (constraintCount(out) === 0) {
    throw new NameConstraintError('name constraints need at least one permitted or excluded name', 'nameConstraints');
  }
  return out;
}

export function constraintCount(nc: NameConstraints): number {
  return NAME_CONSTRAINT_TYPES.reduce((n, t) => n + nc.permitted[t].length + nc.excluded[t].length, 0);
}

/** GeneralName tags (context-specific, primitive): rfc822Name [1], dNSName [2], URI [6], iPAddress [7]. */
const GENERAL_NAME_TAG: Record<NameConstraintType, number> = { email: 0x81, dns: 0x82, uri: 0x86, ip: 0x87 };

/** iPAddress of a subtree: address then mask (RFC 5280 4.2.1.10), 8 or 32 octets. */
function cidrOctets(cidr: string): Uint8Array {
  const [base, bits] = cidr.split('/');
  const addr = ipToBytes(base);
  const out = new Uint8Array(addr.length * 2);
  out.set(addr, 0);
  out.set(maskBytes(addr.length, Number(bits)), addr.length);
  return out;
}

function generalName(type: NameConstraintType, value: string): GeneralName {
  return type === 'ip' ? { kind: 'ip', bytes: cidrOctets(value), der: new Uint8Array() } : { kind: type, value, der: new Uint8Array() };
}

/**
 * The NameConstraints extension value: SEQUENCE { [0] permittedSubtrees, [1] excludedSubtrees },
 * each GeneralSubtree only its base (minimum 0 is the DEFAULT, left out under DER; maximum is never
 * written: OpenSSL refuses subtrees with one).
 */
export function nameConstraintsDer(nc: NameConstraints): Uint8Array {
  const subtrees = (list: NameConstraintList) =>
    NAME_CONSTRAINT_TYPES.flatMap((type) =>
      list[type].map((v) =>
        tlv(TAG.SEQUENCE, tlv(GENERAL_NAME_TAG[type], type === 'ip' ? cidrOctets(v) : asciiBytes(v, 'name constraint'))),
      ),
    );
  const permitted = subtrees(nc.permitted);
  const excluded = subtrees(nc.excluded);
  return tlv(TAG.SEQUENCE, ...(permitted.length ? [tlv(0xa0, ...permitted)] : []), ...(excluded.length ? [tlv(0xa1, ...excluded)] : []));
}

function model(nc: NameConstraints, only?: { side: 'permitted' | 'excluded'; type: NameConstraintType; value: string }) {
  const side = (s: 'permitted' | 'excluded') =>
    NAME_CONSTRAINT_TYPES.flatMap((type) =>
      nc[s][type]
        .filter((v) => !only || (only.side === s && only.type === type && only.value === v))
        .map((v) => ({ base: generalName(type, v), minimumValid: true })),
    );
  return { permitted: only ? [] : side('permitted'), excluded: side('excluded') } satisfies NameConstraintsModel;
}

/**
 * The first name of a leaf outside `nc`, or null. SANs as NAME_CONSTRAINTS_check checks them, and a
 * host-name-like CN as a DNS name (NAME_CONSTRAINTS_check_CN). Stricter than OpenSSL in three places,
 * so that no name gets past a constrained CA by a verifier's quirk: the CN is checked even beside DNS
 * SANs (OpenSSL checks it only without them, but gateways map clients by CN); a wildcard DNS name is
 * refused when an excluded domain lies under it; and a URI's host is also read as a URL parser reads
 * it (OpenSSL cuts at the first ':' anywhere, so "https://a.com:1@evil.com/" has host "a.com" for it).
 */
export function checkNameConstraints(nc: NameConstraints, names: { sans: Sans; commonName?: string }): NameConstraintViolation | null {
  const candidates: Array<{ type: NameConstraintViolation['type']; name: string; gen: GeneralName[] }> = [];
  const g = (kind: 'dns' | 'uri' | 'email', value: string): GeneralName => ({ kind, value, der: new Uint8Array() });
  for (const d of names.sans.dns) candidates.push({ type: 'dns', name: d, gen: [g('dns', d)] });
  for (const ip of names.sans.ip)
    candidates.push({ type: 'ip', name: ip, gen: [{ kind: 'ip', bytes: ipToBytes(ip), der: new Uint8Array() }] });
  for (const u of names.sans.uri) {
    const gen = [g('uri', u)];
    const host = urlHost(u);
    if (host !== null) gen.push(g('uri', `x://${host}`));
    candidates.push({ type: 'uri', name: u, gen });
  }
  for (const e of names.sans.email) candidates.push({ type: 'email', name: e, gen: [g('email', e)] });
  const cn = names.commonName !== undefined ? cnDnsId(names.commonName) : null;
  if (cn !== null) candidates.push({ type: 'cn', name: names.commonName!, gen: [g('dns', cn)] });

  const all = model(nc);
  for (const c of candidates) {
    const type: NameConstraintType = c.type === 'cn' ? 'dns' : c.type;
    for (const gen of c.gen) {
      const r = ncMatch(gen, all);
      if (r === X509_V.OK) continue;
      if (r === X509_V.PERMITTED_VIOLATION) {
        return { type: c.type, name: c.name, subtree: 'permitted', constraints: [...nc.permitted[type]], opensslCode: r };
      }
      if (r === X509_V.EXCLUDED_VIOLATION) {
        return { type: c.type, name: c.name, subtree: 'excluded', constraints: [excludedBy(nc, type, gen)], opensslCode: r };
      }
      return {
        type: c.type,
        name: c.name,
        subtree: 'unsupported',
        constraints: [...nc.permitted[type], ...nc.excluded[type]],
        opensslCode: r,
      };
    }
    if (type === 'dns' && c.name.startsWith('*.')) {
      const domain = c.name.slice(2).toLowerCase();
      const under = nc.excluded.dns.find((e) => (e.startsWith('.') ? e : `.${e}`).endsWith(`.${domain}`));
      if (under) return { type: c.type, name: c.name, subtree: 'excluded', constraints: [under], opensslCode: X509_V.EXCLUDED_VIOLATION };
    }
  }
  return null;
}

function excludedBy(nc: NameConstraints, type: NameConstraintType, gen: GeneralName): string {
  return nc.excluded[type].find((value) => ncMatch(gen, model(nc, { side: 'excluded', type, value })) !== X509_V.OK) ?? '';
}

/** The host of a URI as the WHATWG URL parser reads it (lower-case), or null when it has none. */
function urlHost(uri: string): string | null {
  try {
    const host = new URL(uri).hostname;
    return host ? host : null;
  } catch {
    return null;
  }
}

/** A violation in plain words, naming the name and the constraint (the refusal message). */
export function describeViolation(v: NameConstraintViolation, issuerName: string): string {
  const what = v.type === 'cn' ? `the commonName "${v.name}" (a host name, checked as DNS)` : `the ${v.type} name "${v.name}"`;
  const type = v.type === 'cn' ? 'dns' : v.type;
  if (v.subtree === 'excluded') return `${what} is inside the excluded ${type} subtree "${v.constraints[0]}" of issuer "${issuerName}"`;
  if (v.subtree === 'permitted') {
    return `${what} is outside the permitted ${type} subtrees of issuer "${issuerName}" (${v.constraints.map((c) => `"${c}"`).join(', ')})`;
  }
  return `${what} has a form OpenSSL cannot check against the ${type} name constraints of issuer "${issuerName}" (it refuses it)`;
}
