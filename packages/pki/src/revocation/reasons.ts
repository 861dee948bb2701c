/**
 * CRLReason (RFC 5280 5.3.1), by the names the API and UI use. One table for CRL entries and
 * OCSP revocationReason, so the two answers can never disagree about a code.
 */
export const REVOCATION_REASON_CODES = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  // 7 is not used
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReason = keyof typeof REVOCATION_REASON_CODES;

export const REVOCATION_REASONS = Object.keys(REVOCATION_REASON_CODES) as RevocationReason[];

/**
 * The reasons an operator may choose when revoking, the one list the API, UI and CLI offer:
 * removeFromCRL is a delta-CRL mechanism, not a reason, and aACompromise concerns attribute
 * certificates, which Anvil does not issue.
 */
export const REVOKE_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const satisfies readonly RevocationReason[];

export type RevokeReason = (typeof REVOKE_REASONS)[number];

export function isRevokeReason(value: unknown): value is RevokeReason {
  return (REVOKE_REASONS as readonly unknown[]).includes(value);
}

const BY_CODE = new Map<number, RevocationReason>(
  Object.entries(REVOCATION_REASON_CODES).map(([name, code]) => [code, name as RevocationReason]),
);

export function revocationReasonCode(reason: RevocationReason): number {
  const code = REVOCATION_REASON_CODES[reason];
  if (code === undefined) throw new RangeError(`unknown revocation reason "${String(reason)}"`);
  return code;
}

/** The name for a CRLReason code, or undefined for 7 and anything past 10. */
export function revocationReasonName(code: number): RevocationReason | undefined {
  return BY_CODE.get(code);
}

export function isRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === 'string' && Object.hasOwn(REVOCATION_REASON_CODES, value);
}
