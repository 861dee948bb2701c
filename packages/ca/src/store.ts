/** The Store interface the authority needs (db/ implements it) and its record types. */
import { isRevocationReason, type NameConstraints, type PackedRevokedEntries, type RevocationReason, type Sans } from '@anvil/pki';
import type { AcmeEabStoreTx } from './acme/eab.ts';
import type { TokenLimits } from './token-limits.ts';
import type { AcmeStoreTx } from './acme/store.ts';

/** The store speaks RFC 5280 reason names; implementations (db/) take the type from here. */
export type { RevocationReason };

/**
 * How a store hands a CRL its entries without an object per entry (the layout is pki's
 * crl-builder.ts `PackedRevokedEntries`): the packer for rows it holds as objects, and the
 * reason codes for a store that packs them itself (in SQL).
 */
export { packRevokedEntries, REVOCATION_REASON_CODES, type PackedRevokedEntries } from '@anvil/pki';

/**
 * What the authority needs from storage. `db/` implements it for PGlite and PostgreSQL; every
 * state change runs inside `transaction`, which also receives the audit row.
 */
export interface IssuerRecord {
  id: string;
  name: string;
  kind: 'root' | 'intermediate';
  parentId: string | null;
  subject: string;
  keyAlgorithm: string;
  encryptedKey: Uint8Array | null;
  keyRef: string | null;
  /** An imported issuer's external CA certificates above it (PEM, nearest first), served in chain.pem; null for Anvil's own. */
  externalChain?: string | null;
  certificateDer: Uint8Array;
  serial: string;
  subjectKeyId: string;
  notBefore: Date;
  notAfter: Date;
  status: string;
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
  /** An intermediate's name constraints, as its certificate carries them; null or absent: none. */
  nameConstraints?: NameConstraints | null;
  /** When a rotation retired it (status 'retired'); null or absent: never retired. */
  retiredAt?: Date | null;
  /** The intermediate a rotation moved its profiles to; the default issuer follows it. */
  successorId?: string | null;
  /** Of a retired issuer, as last loaded: when the last certificate it issued expires (null: it issued none). */
  lastCertificateExpiry?: Date | null;
}

/** A newer root's subject and key certified by an older root (root rollover, issuer-rotation.ts). */
export interface CrossCertificateRecord {
  id: string;
  /** The root the certificate is about (its subject and key). */
  subjectIssuerId: string;
  /** The older root that signed it. */
  signerIssuerId: string;
  serial: string;
  certificateDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

export type CertificateStatus = 'active' | 'revoked';

export interface CertificateRecord {
  id: string;
  issuerId: string;
  serial: string;
  profile: string;
  subject: string;
  commonName: string | null;
  sans: Sans;
  keyAlgorithm: string;
  notBefore: Date;
  notAfter: Date;
  der: Uint8Array;
  fingerprintSha256: string;
  status: CertificateStatus;
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
  requestedBy: string | null;
  /** The id of the certificate that renewed this one, if any. */
  supersededBy: string | null;
  createdAt: Date;
}

export type NewCertificate = Omit<CertificateRecord, 'id' | 'status' | 'revokedAt' | 'revocationReason' | 'supersededBy' | 'createdAt'>;

export interface ProfileRecord {
  name: string;
  kind: 'server' | 'client' | 'peer';
  builtin: boolean;
  policy: unknown;
}

export interface AuditEntry {
  actor: string;
  source: string | null;
  action: string;
  target: string | null;
  outcome: 'success' | 'failure';
  details?: Record<string, unknown>;
}

export interface AuditRecord extends AuditEntry {
  id: string;
  at: Date;
  /** Position in the hash chain (decimal; the chain's order, which may differ from id's). */
  seq: string;
  /** The previous row's hash (hex); null for seq 1. */
  prevHash: string | null;
  /** SHA-256 (hex) over the canonical encoding of audit-chain.ts. */
  hash: string;
}

/**
 * An audit row as the hash chain covers it: every field as text exactly as the database encodes
 * it (audit-chain.ts), so the verifier hashes what is stored, not a re-serialisation of it.
 */
export interface AuditChainRow {
  id: string;
  seq: string;
  /** UTC with microseconds: `2031-01-02T03:04:05.123456Z`. */
  at: string;
  actor: string;
  source: string | null;
  action: string;
  target: string | null;
  outcome: string;
  /** `details::text` (PostgreSQL's jsonb output); null when the column is SQL NULL. */
  details: string | null;
  prevHash: string | null;
  hash: string;
}

export interface CertificateQuery {
  status?: CertificateStatus;
  profile?: string;
  issuerId?: string;
  /**
   * Case-insensitive substring over CN, subject (organisation), SANs, serial and SHA-256
   * fingerprint; a serial or fingerprint written with colons matches too.
   */
  q?: string;
  /** Only certificates whose notAfter is before this. */
  expiresBefore?: Date;
  /** Newest first (default), or soonest expiry first. */
  sort?: 'created' | 'expiry';
  /** Opaque: the id of the last row of the previous page. */
  cursor?: string;
  limit: number;
  /** Only certificates requested by this actor id (a partner token's own). */
  requestedBy?: string;
}

export interface TokenRecord {
  id: string;
  name: string;
  scopes: string[];
  revokedAt: Date | null;
  /** A partner token's limits (token-limits.ts); null: none. */
  limits: TokenLimits | null;
  /** Certificates per minute this token may issue (rate-limit.ts); null: the configured default. */
  rateLimit: number | null;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
}

/** An enrollment invitation (invitations.ts); the secret is never here, only its hash in the store. */
export interface InvitationRecord {
  id: string;
  /** Who the invitation is for, as the operator named it. */
  name: string;
  profile: string;
  /** The profile (as `profiles`), fixed subject and SAN patterns, applied as a token's limits are. */
  limits: TokenLimits;
  /** The exact names of the certificate; null: the CSR's names, within `limits.sanPatterns`. */
  sans: Sans | null;
  /** Certificate lifetime in seconds; null: the profile's default. */
  ttlSeconds: number | null;
  expiresAt: Date;
  createdBy: string;
  createdAt: Date;
  usedAt: Date | null;
  certificateId: string | null;
  revokedAt: Date | null;
}

export type UserRole = 'admin' | 'operator' | 'auditor';

export interface UserRecord {
  id: string;
  username: string;
  role: UserRole;
  /** argon2id, PHC string. */
  passwordHash: string;
  mustChangePassword: boolean;
  disabledAt: Date | null;
  createdAt: Date;
}

export interface SessionRecord {
  /** SHA-256 of the cookie value. */
  idHash: string;
  userId: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
}

export interface AuditQuery {
  limit: number;
  /** Keyset: rows strictly older than this id. */
  beforeId?: string;
  /** Substring of the actor column (case-insensitive). */
  actor?: string;
  /** Exact action, or a prefix ending in '.' (`certificate.`). */
  action?: string;
  target?: string;
  outcome?: 'success' | 'failure';
  /** Rows at or after this time. */
  from?: Date;
  /** Rows before this time. */
  to?: Date;
  /** Keyset for oldest-first reads: rows strictly newer than this id. */
  afterId?: string;
  /** Newest first by id (default) or oldest first. */
  order?: 'newest' | 'oldest';
}

export interface IdempotencyRecord {
  requestHash: string;
  certificateId: string;
}

export interface StoreTx {
  /** ACME External Account Binding credentials (acme/eab.ts). */
  readonly acmeEab: AcmeEabStoreTx;
  insertIssuer(issuer: Omit<IssuerRecord, 'id' | 'status' | 'revokedAt' | 'revocationReason'>): Promise<IssuerRecord>;
  listIssuers(): Promise<IssuerRecord[]>;

  /**
   * Records serials before anything is signed with them (unique per issuer). Returns the ones
   * recorded: a serial already on record (another process drew it) is left out.
   */
  reserveSerials(issuerId: string, serials: string[]): Promise<string[]>;
  /**
   * Records an issued certificate with its audit row (target: the new id) and, when given, the
   * Idempotency-Key that asked for it, atomically. Returns null, writing nothing, when another
   * request took that key first, or when `supersedes` names a certificate that is no longer
   * active and unrenewed (it is marked superseded by the new one in the same statement).
   */
  insertIssuedCertificate(
    cert: NewCertificate,
    audit: Omit<AuditEntry, 'target'>,
    options?: {
      idempotency?: { tokenId: string; key: string; requestHash: string };
      supersedes?: string;
      /** An invitation this certificate uses up: only an unused, unrevoked, unexpired one (at `at`) is taken. */
      invitation?: { id: string; at: Date };
    },
  ): Promise<CertificateRecord | null>;
  getCertificate(id: string): Promise<CertificateRecord | null>;
  getCertificateBySerial(issuerId: string, serial: string): Promise<CertificateRecord | null>;
  listCertificates(query: CertificateQuery): Promise<{ items: CertificateRecord[]; nextCursor: string | null }>;

  getProfile(name: string): Promise<ProfileRecord | null>;
  listProfiles(): Promise<ProfileRecord[]>;
  upsertProfile(profile: ProfileRecord): Promise<ProfileRecord>;

  getIdempotency(tokenId: string, key: string): Promise<IdempotencyRecord | null>;

  insertToken(token: {
    name: string;
    tokenHash: string;
    scopes: string[];
    limits?: TokenLimits | null;
    rateLimit?: number | null;
    expiresAt?: Date | null;
  }): Promise<TokenRecord>;
  findTokenByHash(tokenHash: string): Promise<TokenRecord | null>;

  appendAudit(entry: AuditEntry): Promise<void>;
  listAudit(params: AuditQuery): Promise<AuditRecord[]>;
  /** One page of the hash chain in seq order: rows with seq greater than `afterSeq` (null: from the start). */
  auditChainPage(afterSeq: string | null, limit: number): Promise<AuditChainRow[]>;

  // ---- console users and sessions ----
  /** Null, writing nothing, when the username is taken. */
  insertUser(user: Pick<UserRecord, 'username' | 'role' | 'passwordHash' | 'mustChangePassword'>): Promise<UserRecord | null>;
  getUser(id: string): Promise<UserRecord | null>;
  getUserByName(username: string): Promise<UserRecord | null>;
  listUsers(): Promise<UserRecord[]>;
  updateUser(
    id: string,
    patch: Partial<Pick<UserRecord, 'role' | 'passwordHash' | 'mustChangePassword' | 'disabledAt'>>,
  ): Promise<UserRecord | null>;
  insertSession(session: Pick<SessionRecord, 'idHash' | 'userId' | 'createdAt' | 'lastSeenAt' | 'expiresAt'>): Promise<void>;
  /** The session and its user; ended sessions too (the caller decides). */
  getSession(idHash: string): Promise<{ session: SessionRecord; user: UserRecord } | null>;
  touchSession(idHash: string, at: Date): Promise<void>;
  endSession(idHash: string, at: Date): Promise<void>;
  /** Ends every open session of a user (password reset, disable), except `keep`. */
  endUserSessions(userId: string, at: Date, keep?: string): Promise<void>;
  recordSignInFailure(keys: string[], at: Date): Promise<void>;
  countSignInFailures(key: string, since: Date): Promise<number>;
  clearSignInFailures(key: string): Promise<void>;
  /** Forgets failures older than `before` (outside every window): the table stays small. */
  pruneSignInFailures(before: Date): Promise<void>;

  /** Certificates per status and profile (the dashboard). */
  certificateCounts(): Promise<Array<{ status: CertificateStatus; profile: string; count: number }>>;

  // ---- revocation ----
  /**
   * Marks an active certificate revoked. Returns the row as it is afterwards and whether this
   * call changed it (false when it was revoked already, by an earlier or a concurrent call).
   */
  revokeCertificate(id: string, reason: RevocationReason, at: Date): Promise<{ record: CertificateRecord; changed: boolean } | null>;
  /** Ends a certificateHold; returns null when the certificate is not on hold. */
  releaseHold(id: string): Promise<CertificateRecord | null>;
  revokeIssuer(id: string, reason: RevocationReason, at: Date): Promise<IssuerRecord | null>;
  /** Marks an active issuer retired (rotated to `successorId`); null, changing nothing, when it is not active (retired or revoked already). */
  retireIssuer(id: string, at: Date, successorId: string | null): Promise<IssuerRecord | null>;
  insertCrossCertificate(cross: Omit<CrossCertificateRecord, 'id'>): Promise<CrossCertificateRecord>;
  listCrossCertificates(): Promise<CrossCertificateRecord[]>;
  /** Takes the next CRL number for an issuer; the row lock serialises concurrent publishers. */
  nextCrlNumber(issuerId: string): Promise<bigint>;
  /**
   * Revoked certificates (and revoked child CAs) of an issuer whose notAfter is after `expiredBefore`,
   * in serial order, read page by page so a million entries never sit in memory at once.
   */
  revokedEntries(issuerId: string, expiredBefore: Date): AsyncIterable<RevokedRow>;
  /**
   * The same entries packed for the CRL builder: the summary first, then pages of entries, all
   * from one snapshot, with no object per entry (what the CRL publisher reads). Inside a
   * transaction only: the pages come from a cursor of that transaction.
   */
  revokedEntryPages(issuerId: string, expiredBefore: Date): Promise<PackedRevokedEntries>;
  saveCrl(crl: StoredCrl): Promise<void>;
  getCrl(issuerId: string): Promise<StoredCrl | null>;
  getCrlHeader(issuerId: string): Promise<Omit<StoredCrl, 'der'> | null>;
  /** The status of a serial under an issuer: a certificate it issued, or a CA certificate it signed. */
  serialStatus(issuerId: string, serial: string): Promise<SerialStatus | null>;
  /** Tells other processes sharing the database that an issuer's revocation state changed (delivered on commit). */
  notifyRevocation(issuerId: string): Promise<void>;

  getSetting<T>(key: string): Promise<T | null>;
  putSetting(key: string, value: unknown): Promise<void>;

  // ---- scoped API tokens ----
  /** Every token, newest first (never a hash). */
  listTokens(): Promise<TokenRecord[]>;
  getToken(id: string): Promise<TokenRecord | null>;
  /** Marks a token revoked; null, changing nothing, when it is unknown or revoked already. */
  revokeToken(id: string, at: Date): Promise<TokenRecord | null>;
  /** Sets last_used_at to `at` unless it was set less than `minIntervalMs` before. */
  touchToken(id: string, at: Date, minIntervalMs: number): Promise<void>;
  /**
   * Takes one issuance from a token's budget of `limit` a minute (GCRA, rate-limit.ts `gcra`), at
   * `now`, in one conditional UPDATE of its row: every process sharing the database shares it.
   * Refused: nothing is written, and the whole seconds to wait.
   */
  takeIssuanceSlot(tokenId: string, limit: number, now: Date): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;

  // ---- enrollment invitations ----
  insertInvitation(
    invitation: Omit<InvitationRecord, 'id' | 'createdAt' | 'usedAt' | 'certificateId' | 'revokedAt'> & { secretHash: string },
  ): Promise<InvitationRecord>;
  getInvitation(id: string): Promise<InvitationRecord | null>;
  findInvitationBySecretHash(secretHash: string): Promise<InvitationRecord | null>;
  /** Newest first, keyset on (created_at, id) below `before` (an id). */
  listInvitations(query: { limit: number; before?: string }): Promise<InvitationRecord[]>;
  /** Marks an unused invitation revoked; null, changing nothing, when it is unknown, used or revoked already. */
  revokeInvitation(id: string, at: Date): Promise<InvitationRecord | null>;

  // ---- CAs brought in from elsewhere (issuer-import.ts) ----
  listTrustAnchors(): Promise<TrustAnchorRecord[]>;
  insertTrustAnchor(anchor: Omit<TrustAnchorRecord, 'id'>): Promise<TrustAnchorRecord>;
  listPendingIssuers(): Promise<PendingIssuerRecord[]>;
  insertPendingIssuer(pending: Omit<PendingIssuerRecord, 'id' | 'createdAt'>): Promise<PendingIssuerRecord>;
  /** Deletes a pending issuer; false when it was gone already (another process completed it first). */
  deletePendingIssuer(id: string): Promise<boolean>;

  // ---- ACME (acme/store.ts) ----
  readonly acme: AcmeStoreTx;
}

/** A root Anvil trusts but holds no key for: published in the trust bundle, never signing. */
export interface TrustAnchorRecord {
  id: string;
  name: string;
  subject: string;
  certificateDer: Uint8Array;
  fingerprintSha256: string;
  notAfter: Date;
}

/** An intermediate whose key Anvil holds, waiting for its certificate from an external root. */
export interface PendingIssuerRecord {
  id: string;
  name: string;
  subject: string;
  keyAlgorithm: string;
  encryptedKey: Uint8Array | null;
  keyRef: string | null;
  csrDer: Uint8Array;
  createdAt: Date;
}

export interface RevokedRow {
  serialHex: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface StoredCrl {
  issuerId: string;
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Uint8Array;
}

export interface SerialStatus {
  status: CertificateStatus;
  revokedAt: Date | null;
  reason: RevocationReason | null;
  notAfter: Date;
}

/**
 * Reads a reason column back (the database keeps text): a store calls it once per row, so
 * nothing above the store handles reasons as strings. A name outside RFC 5280 is corruption.
 */
export function revocationReasonFromColumn(text: string): RevocationReason;
export function revocationReasonFromColumn(text: string | null): RevocationReason | null;
export function revocationReasonFromColumn(text: string | null): RevocationReason | null {
  if (text === null) return null;
  if (!isRevocationReason(text)) throw new Error(`the database holds an unknown revocation reason "${text.slice(0, 64)}"`);
  return text;
}

/** What a process hears of revocations committed by any process sharing the database. */
export interface RevocationSubscriber {
  /** A revocation of this issuer's committed. */
  revoked(issuerId: string): void;
  /** The subscription stands (true; the first time too) or dropped (false; notices are lost until it stands again). */
  subscription(live: boolean): void;
  /**
   * Every notice committed from now until `until` (a `performance.now()` time) is certain to
   * reach this subscriber first; past it, nothing cached may be trusted until the next lease.
   * Stores whose subscription cannot drop unseen (PGlite, in process) never call it.
   */
  lease?(until: number): void;
  /**
   * An issuer, trust anchor, pending issuer or cross-certificate changed (in any process): what
   * this process keeps of them must be reloaded. Missed while the subscription was down, so a
   * subscription that stands again means the same.
   */
  issuersChanged?(): void;
}

/** What confirmRevocationNotices saw: `processes` listening, of which `confirmed` acknowledged in time. */
export interface NoticeConfirmation {
  processes: number;
  confirmed: number;
}

export interface Store extends StoreTx {
  /** Subscribes to revocation notices (retried by the store until it stands); resolves after the first attempt. */
  onRevocation(subscriber: RevocationSubscriber): Promise<void>;
  /**
   * Returns once every process subscribed to revocation notices has processed every notice
   * committed before the call, or has stopped trusting its caches (its lease ran out). Never throws.
   */
  confirmRevocationNotices(): Promise<NoticeConfirmation>;
  /** Runs `fn` in one database transaction; a throw rolls everything back. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Serialises start-up work (bootstrap) across processes sharing one database. */
  withStartupLock<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
