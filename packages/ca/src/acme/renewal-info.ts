/**
 * ACME Renewal Information (RFC 9773): which certificate a certID names, and when its holder
 * should renew. certID = base64url(AKI keyIdentifier) "." base64url(serial DER content octets).
 *
 * The window: normally the last third of the lifetime minus the final sixth (from 2/3 to 5/6 of
 * the validity), which leaves a sixth of the lifetime for retries before expiry. When the
 * certificate is revoked, or its issuer no longer issues (retired by a rotation, revoked), the
 * window is "now": it starts in the past and ends shortly after, which RFC 9773 4.2 says means
 * "renew immediately".
 */
import { acmeProblem } from './problems.ts';

export interface RenewalWindow {
  start: Date;
  end: Date;
  /** Seconds a client should wait before asking again (RFC 9773 4.3: Retry-After). */
  retryAfterSeconds: number;
  /** Why the window is "now", when it is (RFC 9773 explanationURL is not used; this is for logs and tests). */
  urgent: 'revoked' | 'issuer_not_active' | null;
}

export interface RenewalFacts {
  notBefore: Date;
  notAfter: Date;
  revoked: boolean;
  /** The issuer's status (issuer-rotation.ts): `active`, `retired`, `revoked`. */
  issuerStatus: string;
  /** Set when a rotation moved the issuer's profiles to a successor. */
  issuerSuccessorId?: string | null;
}

/** How often a client asks again: a few times a day normally (RFC 9773 suggests hours), hourly once renewal is urgent. */
export const ARI_RETRY_AFTER_SECONDS = 6 * 3600;
export const ARI_URGENT_RETRY_AFTER_SECONDS = 3600;
/** The width of a "now" window around the current time. */
const URGENT_WINDOW_MS = 3600_000;

export function renewalWindow(facts: RenewalFacts, now: Date): RenewalWindow {
  const urgent = facts.revoked ? 'revoked' : facts.issuerStatus !== 'active' || facts.issuerSuccessorId ? 'issuer_not_active' : null;
  if (urgent) {
    return {
      start: new Date(now.getTime() - URGENT_WINDOW_MS),
      end: new Date(now.getTime() + URGENT_WINDOW_MS),
      retryAfterSeconds: ARI_URGENT_RETRY_AFTER_SECONDS,
      urgent,
    };
  }
  const nb = facts.notBefore.getTime();
  const lifetime = facts.notAfter.getTime() - nb;
  // Whole seconds: the answer is RFC 3339, and clients compare the two ends.
  const at = (fraction: number) => new Date(Math.floor((nb + lifetime * fraction) / 1000) * 1000);
  return { start: at(2 / 3), end: at(5 / 6), retryAfterSeconds: ARI_RETRY_AFTER_SECONDS, urgent: null };
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Reads a certID; 404-free: a certID that cannot name anything is 400 `malformed`. */
export function parseCertId(certId: string): { akiHex: string; serialHex: string } {
  const parts = typeof certId === 'string' ? certId.split('.') : [];
  const bad = () => acmeProblem('malformed', 'the certID is not base64url(AKI keyIdentifier) "." base64url(serial)');
  if (parts.length !== 2 || !parts.every((p) => B64URL.test(p) && p.length % 4 !== 1 && p.length <= 128)) throw bad();
  const [aki, serial] = parts.map((p) => Buffer.from(p, 'base64url'));
  if (aki.length === 0 || serial.length === 0 || serial.length > 21) throw bad();
  return { akiHex: aki.toString('hex'), serialHex: serial.toString('hex') };
}

/** The certID of a certificate (what a client computes; tests use it). */
export function certIdOf(akiHex: string, serialHex: string): string {
  return `${Buffer.from(akiHex, 'hex').toString('base64url')}.${Buffer.from(serialHex, 'hex').toString('base64url')}`;
}

/** What the lookup needs of the authority: issuers by key id, certificates by serial. */
export interface RenewalLookup {
  issuers(): Array<{ record: { id: string; subjectKeyId: string; status: string; successorId?: string | null } }>;
  certificateBySerial(issuerId: string, serialHex: string): Promise<{ notBefore: Date; notAfter: Date; status: string } | null>;
}

/** The window of the certificate a certID names; 404 `malformed` when Anvil did not issue it. */
export async function renewalInfoFor(certId: string, lookup: RenewalLookup, now: Date): Promise<RenewalWindow> {
  const { akiHex, serialHex } = parseCertId(certId);
  const unknown = () => acmeProblem('malformed', 'no certificate of this CA has that certID', { status: 404 });
  for (const issuer of lookup.issuers()) {
    if (issuer.record.subjectKeyId.toLowerCase() !== akiHex) continue;
    const cert = await lookup.certificateBySerial(issuer.record.id, serialHex);
    // Keep looking: an imported CA and Anvil's own could, in principle, share a key identifier.
    if (!cert) continue;
    return renewalWindow(
      {
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
        revoked: cert.status === 'revoked',
        issuerStatus: issuer.record.status,
        issuerSuccessorId: issuer.record.successorId,
      },
      now,
    );
  }
  throw unknown();
}
