/**
 * Enrollment invitations: an operator's one-use offer of one certificate to a partner who has no
 * account. The invitation fixes the profile, subject attributes and names (exact SANs, or SAN
 * patterns the CSR's names must match), the lifetime and its own expiry; its secret travels in
 * the URL and is stored only as a hash. It is used up in the statement that records the certificate.
 */
import { createHash, randomBytes } from 'node:crypto';
import { emptySans, type Sans, type SubjectInput } from '@anvil/pki';
import { audit, type Actor } from './audit.ts';
import { CaError, invalid, notFound } from './errors.ts';
import { checkNames, parseTtl, type Profile } from './profiles.ts';
import type { InvitationRecord, StoreTx } from './store.ts';
import { checkTokenLimits, checkTokenSans, type TokenLimits } from './token-limits.ts';

/** An invitation is valid for 7 days unless the operator says otherwise, and for 30 at most. */
export const INVITATION_DEFAULT_TTL_MS = 7 * 24 * 3600_000;
export const INVITATION_MAX_TTL_MS = 30 * 24 * 3600_000;

/** The secret of an invitation URL: 256 random bits with a recognisable prefix. */
export function generateInvitationSecret(): string {
  return `anvil_inv_${randomBytes(32).toString('base64url')}`;
}

/** Invitation secrets carry 256 bits of entropy: SHA-256 without salt or KDF is enough (as for tokens). */
export function hashInvitationSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The shape a secret must have before it is looked up (anything else is simply unknown). */
export const INVITATION_SECRET = /^anvil_inv_[A-Za-z0-9_-]{43}$/;

/** What an operator asks for. */
export interface InvitationParams {
  /** Who the invitation is for (shown to the partner and in the audit trail). */
  name: string;
  profile: string;
  subject?: SubjectInput;
  /** Exact names of the certificate (the CSR's are ignored). */
  sans?: Partial<Sans>;
  /** Or: patterns the CSR's names must match (token-limits.ts syntax). */
  sanPatterns?: string[];
  /** Lifetime of the certificate (profile default when absent; at most the profile's maximum). */
  ttl?: string | number;
  /** When the invitation stops working (default 7 days from now; at most 30). */
  expiresAt?: string | Date;
}

export type InvitationStatus = 'pending' | 'used' | 'expired' | 'revoked';

export function invitationStatus(inv: Pick<InvitationRecord, 'usedAt' | 'revokedAt' | 'expiresAt'>, now: Date): InvitationStatus {
  if (inv.usedAt) return 'used';
  if (inv.revokedAt) return 'revoked';
  return inv.expiresAt.getTime() <= now.getTime() ? 'expired' : 'pending';
}

/** Why an invitation can no longer be used (410 with a code saying which), or null while it can. */
export function invitationRefusal(inv: InvitationRecord, now: Date): CaError | null {
  switch (invitationStatus(inv, now)) {
    case 'used':
      return new CaError('gone', 'invitation_used', `this invitation was used on ${inv.usedAt!.toISOString()}; ask for a new one`, {
        certificateId: inv.certificateId,
      });
    case 'revoked':
      return new CaError(
        'gone',
        'invitation_revoked',
        `this invitation was withdrawn on ${inv.revokedAt!.toISOString()}; ask for a new one`,
      );
    case 'expired':
      return new CaError('gone', 'invitation_expired', `this invitation expired on ${inv.expiresAt.toISOString()}; ask for a new one`);
    default:
      return null;
  }
}

/** The actor of an enrollment: the invitation itself, from the partner's address. */
export function invitationActor(inv: Pick<InvitationRecord, 'id' | 'name'>, source: string | null): Actor {
  return { id: `invitation:${inv.id}`, name: `invitation for ${inv.name}`, source };
}

/**
 * Checks an invitation (422 with a stable code; nothing stored on a refusal). `profile` is the
 * named profile (the caller resolved it: unknown is its 422). Exact names are checked against the
 * profile now, so a bad one is refused to the operator rather than to the partner; they also
 * become the patterns a CSR's common name must match.
 */
export function checkInvitation(
  params: InvitationParams,
  profile: Profile,
  now: Date,
): Omit<InvitationRecord, 'id' | 'createdAt' | 'usedAt' | 'certificateId' | 'revokedAt' | 'createdBy'> {
  if (typeof params.name !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,99}$/.test(params.name) || params.name.endsWith(' ')) {
    throw invalid('invalid_invitation_name', 'name is 1 to 100 printable ASCII characters');
  }
  if (!['client', 'server', 'peer'].includes(profile.kind)) {
    throw invalid('invalid_profile', `profile "${profile.name}" is not for end-entity certificates`);
  }
  if (params.sans === undefined && params.sanPatterns === undefined) {
    throw invalid(
      'invitation_names_required',
      'give the names of the certificate (sans) or the patterns its names must match (sanPatterns)',
    );
  }
  let sans: Sans | null = null;
  let sanPatterns = params.sanPatterns;
  if (params.sans !== undefined) {
    if (!params.sans || typeof params.sans !== 'object' || Array.isArray(params.sans))
      throw invalid('invalid_sans', 'sans is an object of name lists');
    sans = checkNames(profile, { ...emptySans(), ...params.sans });
    const names = [...sans.dns, ...sans.ip, ...sans.uri, ...sans.email];
    if (names.length === 0) throw invalid('invitation_names_required', 'sans names no name');
    sanPatterns ??= names;
  }
  const limits: TokenLimits = checkTokenLimits({ profiles: [profile.name], sanPatterns, subject: params.subject });
  if (sans) checkTokenSans(limits, sans, undefined, 'invitation');

  let ttlSeconds: number | null = null;
  if (params.ttl !== undefined) {
    ttlSeconds = parseTtl(params.ttl);
    if (ttlSeconds > profile.policy.maxTtl) {
      throw invalid('ttl_too_long', `ttl ${ttlSeconds}s exceeds the maximum of ${profile.policy.maxTtl}s for profile "${profile.name}"`);
    }
  }
  let expiresAt = new Date(now.getTime() + INVITATION_DEFAULT_TTL_MS);
  if (params.expiresAt !== undefined) {
    expiresAt = new Date(params.expiresAt);
    if (Number.isNaN(expiresAt.getTime())) throw invalid('invalid_expiry', 'expiresAt is an RFC 3339 date-time');
    if (expiresAt.getTime() <= now.getTime()) throw invalid('expiry_in_past', 'expiresAt must be in the future');
    if (expiresAt.getTime() > now.getTime() + INVITATION_MAX_TTL_MS)
      throw invalid('expiry_too_far', 'an invitation is valid for 30 days at most');
  }
  return { name: params.name, profile: profile.name, limits, sans, ttlSeconds, expiresAt };
}

/** Records a checked invitation and its audit row in the caller's transaction; the secret is returned once. */
export async function createInvitation(
  tx: StoreTx,
  checked: ReturnType<typeof checkInvitation>,
  actor: Actor,
): Promise<{ invitation: InvitationRecord; secret: string }> {
  const secret = generateInvitationSecret();
  const invitation = await tx.insertInvitation({ ...checked, createdBy: audit(actor).actor, secretHash: hashInvitationSecret(secret) });
  await tx.appendAudit({
    ...audit(actor),
    action: 'invitation.create',
    target: invitation.id,
    outcome: 'success',
    details: {
      name: checked.name,
      profile: checked.profile,
      limits: checked.limits,
      sans: checked.sans,
      expiresAt: checked.expiresAt.toISOString(),
    },
  });
  return { invitation, secret };
}

/** Withdraws an unused invitation with its audit row; 404 when unknown, 409 `invitation_used` when it was used. */
export async function revokeInvitation(tx: StoreTx, id: string, at: Date, actor: Actor): Promise<InvitationRecord> {
  const existing = await tx.getInvitation(id);
  if (!existing) throw notFound('invitation_not_found', `there is no invitation ${id}`);
  if (existing.revokedAt) return existing;
  if (existing.usedAt) throw new CaError('conflict', 'invitation_used', 'this invitation was used already: revoke its certificate instead');
  const row = await tx.revokeInvitation(id, at);
  if (!row) return revokeInvitation(tx, id, at, actor); // used or revoked meanwhile: answer for what it is now
  await tx.appendAudit({ ...audit(actor), action: 'invitation.revoke', target: id, outcome: 'success', details: { name: row.name } });
  return row;
}
