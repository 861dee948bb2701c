/**
 * What the ACME server (service.ts) needs from storage: nonces, accounts, orders, authorizations
 * and challenges. db/src/acme-store.ts implements it; a StoreTx exposes it as `tx.acme`, so an
 * ACME state change and its audit row commit together.
 */
import type { AcmeChallengeType } from '../profiles.ts';
import type { TokenLimits } from '../token-limits.ts';

export type AcmeAccountStatus = 'valid' | 'deactivated' | 'revoked';
export type AcmeOrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
export type AcmeAuthorizationStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
export type AcmeChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';

export interface AcmeIdentifier {
  type: 'dns' | 'ip';
  value: string;
}

/** A problem document as stored on an order or challenge (AcmeProblem.toJSON()). */
export type AcmeStoredProblem = Record<string, unknown>;

export interface AcmeAccountRecord {
  id: string;
  profile: string;
  jwk: JsonWebKey;
  /** RFC 7638 SHA-256 thumbprint of `jwk`: unique per profile. */
  thumbprint: string;
  status: AcmeAccountStatus;
  contact: string[];
  /** The External Account Binding the account was created with; null: none. */
  eabKeyId: string | null;
  /** The binding's limits, applied to every issuance of the account as a token's are; null: none. */
  limits: TokenLimits | null;
  createdAt: Date;
}

export interface AcmeOrderRecord {
  id: string;
  accountId: string;
  profile: string;
  identifiers: AcmeIdentifier[];
  status: AcmeOrderStatus;
  expires: Date;
  notBefore: Date | null;
  notAfter: Date | null;
  certificateId: string | null;
  error: AcmeStoredProblem | null;
  createdAt: Date;
  /** Ids of the order's authorizations, sorted by identifier value. */
  authorizationIds: string[];
}

export interface AcmeChallengeRecord {
  id: string;
  authorizationId: string;
  type: AcmeChallengeType;
  /** 43 base64url characters (32 random bytes). */
  token: string;
  status: AcmeChallengeStatus;
  validated: Date | null;
  error: AcmeStoredProblem | null;
}

export interface AcmeAuthorizationRecord {
  id: string;
  orderId: string;
  accountId: string;
  identifier: AcmeIdentifier;
  wildcard: boolean;
  status: AcmeAuthorizationStatus;
  expires: Date;
  challenges: AcmeChallengeRecord[];
}

export interface NewAcmeOrder {
  accountId: string;
  profile: string;
  identifiers: AcmeIdentifier[];
  expires: Date;
  notBefore: Date | null;
  notAfter: Date | null;
  authorizations: Array<{
    identifier: AcmeIdentifier;
    wildcard: boolean;
    expires: Date;
    challenges: Array<{ type: AcmeChallengeType; token: string }>;
  }>;
}

export interface AcmeStoreTx {
  insertNonce(nonce: string, expiresAt: Date): Promise<void>;
  /** Uses a nonce up: true once for a nonce issued and unexpired at `now`, false ever after (one DELETE … RETURNING). */
  consumeNonce(nonce: string, now: Date): Promise<boolean>;
  /** Forgets nonces that expired before `before`. */
  pruneNonces(before: Date): Promise<void>;

  /** Null, writing nothing, when the profile already has an account with this key's thumbprint. */
  insertAccount(account: Omit<AcmeAccountRecord, 'id' | 'createdAt'> & { id?: string }): Promise<AcmeAccountRecord | null>;
  getAccount(id: string): Promise<AcmeAccountRecord | null>;
  findAccountByThumbprint(profile: string, thumbprint: string): Promise<AcmeAccountRecord | null>;
  updateAccount(id: string, patch: Partial<Pick<AcmeAccountRecord, 'status' | 'contact'>>): Promise<AcmeAccountRecord | null>;
  /** Replaces a valid account's key; null, changing nothing, when another account of the profile holds `thumbprint`. */
  replaceAccountKey(id: string, jwk: JsonWebKey, thumbprint: string): Promise<AcmeAccountRecord | null>;

  insertOrder(order: NewAcmeOrder): Promise<AcmeOrderRecord>;
  getOrder(id: string): Promise<AcmeOrderRecord | null>;
  /** Sets fields of an order whose status is one of `from`; null, changing nothing, otherwise (a concurrent change won). */
  updateOrder(
    id: string,
    from: readonly AcmeOrderStatus[],
    patch: Partial<Pick<AcmeOrderRecord, 'status' | 'certificateId' | 'error'>>,
  ): Promise<AcmeOrderRecord | null>;
  /** Ids of an account's orders, newest first, at most `limit` (the account's `orders` list). */
  listOrderIds(accountId: string, limit: number): Promise<string[]>;
  /** The order that issued a certificate, if ACME issued it. */
  findOrderByCertificate(certificateId: string): Promise<AcmeOrderRecord | null>;
  /** Orders an account created at or after `since` (the per-account hourly limit). */
  countOrdersSince(accountId: string, since: Date): Promise<number>;
  /** Valid orders of a profile naming `value` created at or after `since` (the per-name weekly limit). */
  countIssuedForName(profile: string, value: string, since: Date): Promise<number>;

  getAuthorization(id: string): Promise<AcmeAuthorizationRecord | null>;
  listAuthorizations(orderId: string): Promise<AcmeAuthorizationRecord[]>;
  updateAuthorization(
    id: string,
    from: readonly AcmeAuthorizationStatus[],
    status: AcmeAuthorizationStatus,
  ): Promise<AcmeAuthorizationRecord | null>;

  getChallenge(id: string): Promise<AcmeChallengeRecord | null>;
  updateChallenge(
    id: string,
    from: readonly AcmeChallengeStatus[],
    patch: Partial<Pick<AcmeChallengeRecord, 'status' | 'validated' | 'error'>>,
  ): Promise<AcmeChallengeRecord | null>;
}
