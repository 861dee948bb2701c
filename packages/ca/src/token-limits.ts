/** The limits of a scoped (partner) API token: which profiles, names and fixed subject attributes its issuances may carry. */
import { isIP } from 'node:net';
import { bytesToIp, ipToBytes, type Sans, type SubjectInput } from '@anvil/pki';
import { CaError, invalid } from './errors.ts';
import { checkNameText, isDnsName } from './profiles.ts';

/** What a token with limits may issue; every field absent means "no limit of that kind". */
export interface TokenLimits {
  /** Profile names the token may issue under. */
  profiles?: string[];
  /** `*.example.test` (one or more labels under it, never itself), `scheme://host/path/*` (URIs under that prefix), else an exact name. */
  sanPatterns?: string[];
  /** Attributes every certificate of the token carries; a request naming another value is refused. */
  subject?: SubjectInput;
}

/** The subject attributes a token may fix (the ones issuance writes). */
export const TOKEN_SUBJECT_KEYS = ['CN', 'O', 'OU', 'L', 'ST', 'C'] as const;

const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

type Pattern =
  | { kind: 'dns-under'; suffix: string }
  | { kind: 'uri-under'; prefix: string }
  | { kind: 'dns' | 'ip' | 'uri' | 'email'; value: string };

const forbidden = (code: string, message: string, details?: Record<string, unknown>) => new CaError('forbidden', code, message, details);

function normalIp(ip: string): string {
  return bytesToIp(ipToBytes(ip));
}

function normalEmail(email: string): string {
  return email.replace(/@(.*)$/, (_, d: string) => `@${d.toLowerCase()}`);
}

function absoluteUri(value: string): boolean {
  if (!/^[\x21-\x7e]+$/.test(value)) return false;
  try {
    return /^[a-z][a-z0-9+.-]*:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** Reads one SAN pattern; null when it is not a valid pattern. */
function parsePattern(raw: string): Pattern | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 512) return null;
  if (raw.startsWith('*.')) {
    const suffix = raw.slice(2).toLowerCase();
    return isDnsName(suffix, false) ? { kind: 'dns-under', suffix } : null;
  }
  if (raw.includes('*')) {
    // The only other wildcard: a whole last path segment of a URI with an authority ("spiffe://td/ns/*").
    if (!raw.endsWith('/*') || raw.indexOf('*') !== raw.length - 1) return null;
    const prefix = raw.slice(0, -1);
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]+\//i.test(prefix) || !absoluteUri(prefix)) return null;
    return { kind: 'uri-under', prefix };
  }
  if (isIP(raw) && !raw.includes('%')) return { kind: 'ip', value: normalIp(raw) };
  if (raw.includes('@') && !raw.includes(':')) return EMAIL.test(raw) ? { kind: 'email', value: normalEmail(raw) } : null;
  if (raw.includes(':')) return absoluteUri(raw) ? { kind: 'uri', value: raw } : null;
  return isDnsName(raw.toLowerCase(), false) ? { kind: 'dns', value: raw.toLowerCase() } : null;
}

/**
 * Checks and normalises the limits of a token about to be created: 422 `invalid_san_pattern`,
 * `invalid_token_subject` or `invalid_token_limits`. Profiles are checked for existence by the caller.
 */
export function checkTokenLimits(limits: TokenLimits): TokenLimits {
  const out: TokenLimits = {};
  if (limits.profiles !== undefined) {
    if (!Array.isArray(limits.profiles) || limits.profiles.length === 0 || limits.profiles.some((p) => typeof p !== 'string' || !p)) {
      throw invalid('invalid_token_limits', 'profiles is a non-empty list of profile names');
    }
    out.profiles = [...new Set(limits.profiles)];
  }
  if (limits.sanPatterns !== undefined) {
    if (!Array.isArray(limits.sanPatterns) || limits.sanPatterns.length === 0 || limits.sanPatterns.length > 100) {
      throw invalid('invalid_token_limits', 'sanPatterns is a list of 1 to 100 patterns');
    }
    out.sanPatterns = limits.sanPatterns.map((p, i) => {
      if (typeof p === 'string') checkNameText(`sanPatterns[${i}]`, p);
      const parsed = parsePattern(p);
      if (!parsed) {
        throw invalid(
          'invalid_san_pattern',
          `sanPatterns[${i}] is not a valid pattern: use "*.domain" (names under domain), "scheme://authority/path/*" (URIs under that prefix), or an exact DNS name, IP, email or URI`,
          { index: i },
        );
      }
      return parsed.kind === 'dns-under' ? `*.${parsed.suffix}` : parsed.kind === 'uri-under' ? `${parsed.prefix}*` : parsed.value;
    });
  }
  if (limits.subject !== undefined) {
    if (!limits.subject || typeof limits.subject !== 'object' || Array.isArray(limits.subject)) {
      throw invalid('invalid_token_subject', 'subject is an object of fixed attributes such as {"O": "Partner B"}');
    }
    const subject: SubjectInput = {};
    for (const [key, value] of Object.entries(limits.subject)) {
      if (!(TOKEN_SUBJECT_KEYS as readonly string[]).includes(key)) {
        throw invalid('invalid_token_subject', `subject.${key} is not an attribute a token may fix (${TOKEN_SUBJECT_KEYS.join(', ')})`);
      }
      if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
        throw invalid('invalid_token_subject', `subject.${key} is a string of 1 to 64 characters`);
      }
      checkNameText(`subject.${key}`, value);
      subject[key as (typeof TOKEN_SUBJECT_KEYS)[number]] = value;
    }
    if (Object.keys(subject).length === 0) throw invalid('invalid_token_subject', 'subject names at least one attribute');
    out.subject = subject;
  }
  return out;
}

/** Whose limits refused a request: the problem codes and messages name it (`token_…`, `invitation_…`, `eab_…` for an ACME account's binding). */
export type LimitsHolder = 'token' | 'invitation' | 'eab';

/** 403 `token_profile_not_allowed` (or `invitation_…`) when the holder may not issue under `profile`. */
export function checkTokenProfile(limits: TokenLimits | null | undefined, profile: string, holder: LimitsHolder = 'token'): void {
  if (limits?.profiles && !limits.profiles.includes(profile)) {
    throw forbidden(`${holder}_profile_not_allowed`, `this ${holder} may not issue under profile "${profile}"`, { limit: 'profiles' });
  }
}

function matches(pattern: Pattern, type: keyof Sans, name: string): boolean {
  switch (pattern.kind) {
    case 'dns-under':
      return type === 'dns' && name !== pattern.suffix && name.endsWith(`.${pattern.suffix}`);
    case 'uri-under':
      return type === 'uri' && name.length > pattern.prefix.length && name.startsWith(pattern.prefix);
    default:
      return pattern.kind === type && pattern.value === name;
  }
}

/**
 * 403 `token_san_not_allowed` unless every name (already normalised by checkNames) and a CN
 * that is a dotted DNS name or an IP match one of the token's patterns.
 */
export function checkTokenSans(limits: TokenLimits | null | undefined, sans: Sans, cn?: string, holder: LimitsHolder = 'token'): void {
  if (!limits?.sanPatterns) return;
  const patterns = limits.sanPatterns.map((p) => parsePattern(p)!);
  const names: Array<[keyof Sans, string]> = [];
  for (const type of ['dns', 'ip', 'uri', 'email'] as const) for (const n of sans[type]) names.push([type, n]);
  if (cn !== undefined) {
    if (isIP(cn)) names.push(['ip', normalIp(cn)]);
    // A dotted CN is read as a host name (what older TLS clients still match); a one-label CN is a free label.
    else if (cn.includes('.') && isDnsName(cn.toLowerCase(), true)) names.push(['dns', cn.toLowerCase()]);
  }
  for (const [type, name] of names) {
    if (!patterns.some((p) => matches(p, type, name))) {
      throw forbidden(`${holder}_san_not_allowed`, `this ${holder} may not issue for "${name}"`, { limit: 'sanPatterns', name });
    }
  }
}

/**
 * The subject with the token's fixed attributes in it; 403 `token_subject_not_allowed` when the
 * request asks for another value of one of them.
 */
export function applyTokenSubject(
  limits: TokenLimits | null | undefined,
  subject: SubjectInput,
  holder: LimitsHolder = 'token',
): SubjectInput {
  if (!limits?.subject) return subject;
  for (const [key, value] of Object.entries(limits.subject)) {
    const asked = subject[key as keyof SubjectInput];
    if (asked !== undefined && asked !== value) {
      throw forbidden(`${holder}_subject_not_allowed`, `this ${holder} issues only with subject ${key}=${value}`, {
        limit: 'subject',
        attribute: key,
      });
    }
  }
  return { ...subject, ...limits.subject };
}
