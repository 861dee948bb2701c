/**
 * Name checks as OpenSSL 3.0 performs them: the identity checks of `openssl verify
 * -verify_hostname / -verify_email / -verify_ip` (X509_check_host / _email / _ip with default
 * flags, v3_utl.c) and RFC 5280 name constraints (NAME_CONSTRAINTS_check, v3_ncons.c).
 */
import { ipToBytes } from '../names.ts';
import { OID } from '../oids.ts';
import { bytesEqual } from '../der.ts';
import { X509_V } from './openssl-codes.ts';
import type { CertModel, GeneralName, NameConstraintsModel } from './x509-model.ts';
import { attributeValues } from './x509-name.ts';

const lower = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
const eqNoCase = (a: string, b: string): boolean => a.length === b.length && lower(a) === lower(b);

/** valid_star + wildcard_match with default flags (partial wildcards in the left-most label allowed). */
function wildcardMatches(pattern: string, subject: string): boolean | null {
  const star = pattern.indexOf('*');
  if (star < 0 || pattern.indexOf('*', star + 1) >= 0) return null;
  const firstDot = pattern.indexOf('.');
  if (firstDot < 0 || star > firstDot) return null;
  const rest = pattern.slice(firstDot);
  if ((rest.match(/\./g) ?? []).length < 2) return null; // "*.com" is not a valid wildcard
  const label = pattern.slice(0, firstDot);
  if (label !== '*' && lower(label).startsWith('xn--')) return null;
  if (subject.startsWith('.')) return null;
  const sDot = subject.indexOf('.');
  if (sDot < 0 || !eqNoCase(subject.slice(sDot), rest)) return false;
  const sLabel = subject.slice(0, sDot);
  const prefix = label.slice(0, star);
  const suffix = label.slice(star + 1);
  if (sLabel.length < prefix.length + suffix.length) return false;
  if (label === '*' && sLabel.length === 0) return false;
  if (label !== '*' && lower(sLabel).startsWith('xn--')) return false;
  return eqNoCase(sLabel.slice(0, prefix.length), prefix) && eqNoCase(sLabel.slice(sLabel.length - suffix.length), suffix);
}

function hostEqual(pattern: string, host: string): boolean {
  const w = wildcardMatches(pattern, host);
  return w === null ? eqNoCase(pattern, host) : w;
}

function emailEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let i = a.length;
  while (i > 0) {
    i--;
    if (a[i] === '@' || b[i] === '@') {
      if (!eqNoCase(a.slice(i), b.slice(i))) return false;
      break;
    }
  }
  if (i === 0) i = a.length;
  return a.slice(0, i) === b.slice(0, i);
}

function ipBytes(ip: string): Uint8Array | null {
  try {
    return ipToBytes(ip);
  } catch {
    return null;
  }
}

export type IdentityKind = 'dns' | 'email' | 'ip' | 'uri';

/**
 * check_id's test for one expected identity. Returns null when the name matches, else the
 * OpenSSL error (62/63/64). URIs have no OpenSSL check: a mismatch returns 0 (judge-only).
 */
export function checkIdentity(x: CertModel, kind: IdentityKind, value: string): number | null {
  const san = x.san ?? [];
  if (kind === 'dns') {
    const dns = san.filter((g) => g.kind === 'dns').map((g) => (g as { value: string }).value);
    if (dns.length) return dns.some((p) => hostEqual(p, value)) ? null : X509_V.HOSTNAME_MISMATCH;
    const cns = attributeValues(x.subject, OID.commonName).map((a) => a.value);
    return cns.some((p) => hostEqual(p, value)) ? null : X509_V.HOSTNAME_MISMATCH;
  }
  if (kind === 'email') {
    const emails = san.filter((g) => g.kind === 'email').map((g) => (g as { value: string }).value);
    if (emails.length) return emails.some((e) => emailEqual(e, value)) ? null : X509_V.EMAIL_MISMATCH;
    const attrs = attributeValues(x.subject, OID.emailAddress).map((a) => a.value);
    return attrs.some((e) => emailEqual(e, value)) ? null : X509_V.EMAIL_MISMATCH;
  }
  if (kind === 'ip') {
    const want = ipBytes(value);
    const ok = want !== null && san.some((g) => g.kind === 'ip' && bytesEqual(g.bytes, want));
    return ok ? null : X509_V.IP_ADDRESS_MISMATCH;
  }
  return san.some((g) => g.kind === 'uri' && g.value === value) ? null : 0;
}

// ---- name constraints -----------------------------------------------------------------------

function ncDns(dns: string, base: string): number {
  if (base.length === 0) return X509_V.OK;
  if (dns.length < base.length) return X509_V.PERMITTED_VIOLATION;
  let tail = dns;
  if (dns.length > base.length) {
    tail = dns.slice(dns.length - base.length);
    if (base[0] !== '.' && dns[dns.length - base.length - 1] !== '.') return X509_V.PERMITTED_VIOLATION;
  }
  return eqNoCase(tail, base) ? X509_V.OK : X509_V.PERMITTED_VIOLATION;
}

function ncEmail(eml: string, base: string): number {
  const baseAt = base.lastIndexOf('@');
  const emlAt = eml.lastIndexOf('@');
  if (emlAt < 0) return X509_V.UNSUPPORTED_NAME_SYNTAX;
  if (baseAt < 0 && base.length > 0 && base[0] === '.') {
    if (eml.length > base.length && eqNoCase(eml.slice(eml.length - base.length), base)) return X509_V.OK;
    return X509_V.PERMITTED_VIOLATION;
  }
  let baseHost = base;
  if (baseAt >= 0) {
    if (baseAt !== 0) {
      if (baseAt !== emlAt) return X509_V.PERMITTED_VIOLATION;
      if (base.slice(0, baseAt) !== eml.slice(0, emlAt)) return X509_V.PERMITTED_VIOLATION;
    }
    baseHost = base.slice(baseAt + 1);
  }
  return eqNoCase(baseHost, eml.slice(emlAt + 1)) ? X509_V.OK : X509_V.PERMITTED_VIOLATION;
}

function ncUri(uri: string, base: string): number {
  const p = uri.indexOf(':');
  if (p < 0 || uri[p + 1] !== '/' || uri[p + 2] !== '/') return X509_V.UNSUPPORTED_NAME_SYNTAX;
  const rest = uri.slice(p + 3);
  let end = rest.indexOf(':');
  if (end < 0) end = rest.indexOf('/');
  const host = end < 0 ? rest : rest.slice(0, end);
  if (host.length === 0) return X509_V.UNSUPPORTED_NAME_SYNTAX;
  if (base.length > 0 && base[0] === '.') {
    if (host.length > base.length && eqNoCase(host.slice(host.length - base.length), base)) return X509_V.OK;
    return X509_V.PERMITTED_VIOLATION;
  }
  return eqNoCase(host, base) ? X509_V.OK : X509_V.PERMITTED_VIOLATION;
}

function ncIp(ip: Uint8Array, base: Uint8Array): number {
  if (ip.length !== 4 && ip.length !== 16) return X509_V.UNSUPPORTED_NAME_SYNTAX;
  if (base.length !== 8 && base.length !== 32) return X509_V.UNSUPPORTED_NAME_SYNTAX;
  if (ip.length * 2 !== base.length) return X509_V.PERMITTED_VIOLATION;
  for (let i = 0; i < ip.length; i++) {
    const mask = base[ip.length + i];
    if ((ip[i] & mask) !== (base[i] & mask)) return X509_V.PERMITTED_VIOLATION;
  }
  return X509_V.OK;
}

function ncMatchSingle(gen: GeneralName, base: GeneralName): number {
  if (gen.kind === 'dirName' && base.kind === 'dirName') {
    const b = base.name.canonRdns;
    const n = gen.name.canonRdns;
    if (b.length > n.length) return X509_V.PERMITTED_VIOLATION;
    return b.every((r, i) => r === n[i]) ? X509_V.OK : X509_V.PERMITTED_VIOLATION;
  }
  if (gen.kind === 'dns' && base.kind === 'dns') return ncDns(gen.value, base.value);
  if (gen.kind === 'email' && base.kind === 'email') return ncEmail(gen.value, base.value);
  if (gen.kind === 'uri' && base.kind === 'uri') return ncUri(gen.value, base.value);
  if (gen.kind === 'ip' && base.kind === 'ip') return ncIp(gen.bytes, base.bytes);
  return X509_V.UNSUPPORTED_CONSTRAINT_TYPE;
}

const sameType = (a: GeneralName, b: GeneralName): boolean =>
  a.kind === b.kind && (a.kind !== 'other' || (b.kind === 'other' && a.tagNumber === b.tagNumber));

/** nc_match: permitted subtrees of the name's type must match one; excluded must match none (also the CA's pre-check, name-constraints.ts). */
export function ncMatch(gen: GeneralName, nc: NameConstraintsModel): number {
  let match = 0;
  for (const sub of nc.permitted) {
    if (!sameType(gen, sub.base)) continue;
    if (!sub.minimumValid) return X509_V.SUBTREE_MINMAX;
    if (match === 2) continue;
    if (match === 0) match = 1;
    const r = ncMatchSingle(gen, sub.base);
    if (r === X509_V.OK) match = 2;
    else if (r !== X509_V.PERMITTED_VIOLATION) return r;
  }
  if (match === 1) return X509_V.PERMITTED_VIOLATION;
  for (const sub of nc.excluded) {
    if (!sameType(gen, sub.base)) continue;
    if (!sub.minimumValid) return X509_V.SUBTREE_MINMAX;
    const r = ncMatchSingle(gen, sub.base);
    if (r === X509_V.OK) return X509_V.EXCLUDED_VIOLATION;
    if (r !== X509_V.PERMITTED_VIOLATION) return r;
  }
  return X509_V.OK;
}

/** NAME_CONSTRAINTS_check: the subject DN, its emailAddress attributes, then every SAN. */
export function nameConstraintsCheck(x: CertModel, nc: NameConstraintsModel): number {
  if (x.subject.rdns.length > 0) {
    let r = ncMatch({ kind: 'dirName', name: x.subject, der: x.subject.der }, nc);
    if (r !== X509_V.OK) return r;
    for (const a of attributeValues(x.subject, OID.emailAddress)) {
      if (a.tag !== 0x16) return X509_V.UNSUPPORTED_NAME_SYNTAX;
      r = ncMatch({ kind: 'email', value: a.value, der: a.valueDer }, nc);
      if (r !== X509_V.OK) return r;
    }
  }
  for (const g of x.san ?? []) {
    const r = ncMatch(g, nc);
    if (r !== X509_V.OK) return r;
  }
  return X509_V.OK;
}

/** NAME_CONSTRAINTS_check_CN: commonNames that look like host names are checked as DNS names. */
export function nameConstraintsCheckCn(x: CertModel, nc: NameConstraintsModel): number {
  for (const a of attributeValues(x.subject, OID.commonName)) {
    if (a.value.includes('\0')) return X509_V.UNSUPPORTED_NAME_SYNTAX;
    const v = cnDnsId(a.value);
    if (v === null) continue;
    const r = ncMatch({ kind: 'dns', value: v, der: a.valueDer }, nc);
    if (r !== X509_V.OK) return r;
  }
  return X509_V.OK;
}

/** cn2dnsid: the DNS name a commonName stands for when it looks like a host name (two labels or more), else null. */
export function cnDnsId(cn: string): string | null {
  const v = cn.endsWith('.') ? cn.slice(0, -1) : cn;
  let isDns = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (/[A-Za-z0-9_]/.test(c)) continue;
    if (i > 0 && i < v.length - 1) {
      if (c === '-') continue;
      if (c === '.' && v[i + 1] !== '.' && v[i - 1] !== '-' && v[i + 1] !== '-') {
        isDns = true;
        continue;
      }
    }
    isDns = false;
    break;
  }
  return isDns ? v : null;
}

export const hasDnsSan = (x: CertModel): boolean => (x.san ?? []).some((g) => g.kind === 'dns');
