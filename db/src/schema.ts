/** The drizzle schema; db/migrations holds the SQL it generates. */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (v) => new Uint8Array(v),
  toDriver: (v) => Buffer.from(v),
});

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** Root and intermediate CAs, and the delegated OCSP signers' keys live here too (kind). */
export const issuers = pgTable('issuers', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  kind: text('kind').notNull(), // root | intermediate
  parentId: uuid('parent_id'),
  subject: text('subject').notNull(),
  keyAlgorithm: text('key_algorithm').notNull(),
  /** AES-256-GCM under the key-encryption key; null when the key lives in an HSM (keyRef). */
  encryptedKey: bytea('encrypted_key'),
  keyRef: text('key_ref'),
  /** Imported issuers (migration 0010): PEM of the external CA certificates above it, nearest first. */
  externalChain: text('external_chain'),
  certificateDer: bytea('certificate_der').notNull(),
  serial: text('serial').notNull(),
  subjectKeyId: text('subject_key_id').notNull(),
  notBefore: tstz('not_before').notNull(),
  notAfter: tstz('not_after').notNull(),
  /** Last CRL number handed out; incremented in the same transaction that stores the CRL. */
  crlNumber: bigint('crl_number', { mode: 'bigint' }).notNull().default(sql`0`),
  status: text('status').notNull().default('active'), // active | retired | revoked
  revokedAt: tstz('revoked_at'),
  revocationReason: text('revocation_reason'),
  /** Migration 0011: the subtrees an intermediate's nameConstraints carry (null: none). */
  nameConstraints: jsonb('name_constraints'),
  /** Migration 0011: when a rotation retired it (it signs nothing more, keeps publishing revocation). */
  retiredAt: tstz('retired_at'),
  /** Migration 0011: the intermediate a rotation moved its profiles to (the default issuer follows it). */
  successorId: uuid('successor_id'),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

/** Root rollover (migration 0011): a newer root's subject and key certified by an older root. */
export const crossCertificates = pgTable(
  'cross_certificates',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectIssuerId: uuid('subject_issuer_id')
      .notNull()
      .references(() => issuers.id),
    signerIssuerId: uuid('signer_issuer_id')
      .notNull()
      .references(() => issuers.id),
    serial: text('serial').notNull(),
    certificateDer: bytea('certificate_der').notNull(),
    notBefore: tstz('not_before').notNull(),
    notAfter: tstz('not_after').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    unique('cross_certificates_pair').on(t.signerIssuerId, t.subjectIssuerId),
    unique('cross_certificates_signer_serial').on(t.signerIssuerId, t.serial),
  ],
);

export const profiles = pgTable('profiles', {
  name: text('name').primaryKey(),
  kind: text('kind').notNull(), // server | client | peer
  builtin: boolean('builtin').notNull().default(false),
  policy: jsonb('policy').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

export const certificates = pgTable(
  'certificates',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    issuerId: uuid('issuer_id')
      .notNull()
      .references(() => issuers.id),
    serial: text('serial').notNull(),
    profile: text('profile').notNull(),
    subject: text('subject').notNull(),
    commonName: text('common_name'),
    sans: jsonb('sans').notNull(),
    /** Lower-case CN, SANs and serial, space separated: what `q` searches. */
    searchText: text('search_text').notNull(),
    keyAlgorithm: text('key_algorithm').notNull(),
    notBefore: tstz('not_before').notNull(),
    notAfter: tstz('not_after').notNull(),
    der: bytea('der').notNull(),
    fingerprintSha256: text('fingerprint_sha256').notNull(),
    status: text('status').notNull().default('active'), // active | revoked
    revokedAt: tstz('revoked_at'),
    revocationReason: text('revocation_reason'),
    requestedBy: text('requested_by'),
    /** The certificate that renewed this one (set once, in the renewal's own statement). */
    supersededBy: uuid('superseded_by'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('certificates_issuer_serial').on(t.issuerId, t.serial),
    index('certificates_created').on(t.createdAt, t.id),
    // What the CRL builder pages through, in serial order.
    index('certificates_revoked').on(t.issuerId, t.serial).where(sql`status = 'revoked'`),
    // The operator console's search box (substring over CN, O, SANs, serial, fingerprint: pg_trgm),
    // its "sort by expiry" keyset and the dashboard's "expiring soon".
    index('certificates_search_trgm').using('gin', sql`${t.searchText} gin_trgm_ops`),
    index('certificates_expiry').on(t.notAfter, t.id),
    index('certificates_fingerprint').on(t.fingerprintSha256),
    // A partner token's own certificates, newest first (migration 0007).
    index('certificates_requested_by').on(t.requestedBy, t.createdAt, t.id),
  ],
);

/**
 * Serials taken before anything is signed with them, so a certificate whose own row could not
 * be written (the database went away, the insert failed) is still on record. A reservation with
 * no certificate row is a serial that was never used or whose certificate never reached anyone;
 * an audit row `certificate.issue` / failure with the serial tells which.
 */
export const serialReservations = pgTable(
  'serial_reservations',
  {
    issuerId: uuid('issuer_id')
      .notNull()
      .references(() => issuers.id),
    serial: text('serial').notNull(),
    reservedAt: tstz('reserved_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('serial_reservations_pk').on(t.issuerId, t.serial)],
);

/** A retried issuance returns the certificate of the first attempt. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    tokenId: text('token_id').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    certificateId: uuid('certificate_id').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('idempotency_keys_pk').on(t.tokenId, t.key)],
);

export const apiTokens = pgTable('api_tokens', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  /** SHA-256 of the token; the token itself is never stored. */
  tokenHash: text('token_hash').notNull().unique(),
  scopes: jsonb('scopes').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
  revokedAt: tstz('revoked_at'),
  /** A partner token's limits (profiles, sanPatterns, subject); null: none (migration 0007). */
  limits: jsonb('limits'),
  expiresAt: tstz('expires_at'),
  /** Written at most once a minute per token. */
  lastUsedAt: tstz('last_used_at'),
  /** Certificates per minute this token may issue; null: the configured default (migration 0009). */
  rateLimit: integer('rate_limit'),
  /** The GCRA theoretical arrival time of its next issuance (rate-limit.ts); null: never limited yet. */
  rateTat: tstz('rate_tat'),
});

/** The latest signed CRL per issuer. */
export const crls = pgTable('crls', {
  issuerId: uuid('issuer_id')
    .primaryKey()
    .references(() => issuers.id),
  number: bigint('number', { mode: 'bigint' }).notNull(),
  thisUpdate: tstz('this_update').notNull(),
  nextUpdate: tstz('next_update').notNull(),
  der: bytea('der').notNull(),
});

/**
 * Append-only: a trigger in the migration refuses UPDATE and DELETE. Hash-chained (migration
 * 0006): a BEFORE INSERT trigger sets seq, prev_hash and hash, whatever the INSERT supplies.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    at: tstz('at').notNull().defaultNow(),
    actor: text('actor').notNull(),
    source: text('source'),
    action: text('action').notNull(),
    target: text('target'),
    outcome: text('outcome').notNull(),
    details: jsonb('details'),
    /** Position in the one chain (1, 2, ...): the chain's order, not id's. */
    seq: bigint('seq', { mode: 'bigint' }).notNull(),
    /** The previous row's hash (hex); null for seq 1. */
    prevHash: text('prev_hash'),
    /** SHA-256 (hex) of the canonical encoding documented in migration 0006 and packages/ca/src/audit-chain.ts. */
    hash: text('hash').notNull(),
  },
  (t) => [
    index('audit_log_at').on(t.at),
    uniqueIndex('audit_log_seq').on(t.seq),
    // The audit page's filters and a certificate's own history, newest first.
    index('audit_log_target').on(t.target, t.id),
    index('audit_log_actor').on(t.actor, t.id),
  ],
);

/** Operator console accounts. The password is an argon2id hash (PHC string); never stored in clear. */
export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  username: text('username').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  role: text('role').notNull(), // admin | operator | auditor
  /** Set for a generated or reset password: the next sign-in must choose a new one. */
  mustChangePassword: boolean('must_change_password').notNull().default(false),
  disabledAt: tstz('disabled_at'),
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

/**
 * Console sessions, shared by every process on the database. The row is keyed by the SHA-256 of
 * the cookie's value, so a copy of this table opens no session.
 */
export const sessions = pgTable(
  'sessions',
  {
    idHash: text('id_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    createdAt: tstz('created_at').notNull().defaultNow(),
    lastSeenAt: tstz('last_seen_at').notNull().defaultNow(),
    /** The absolute end (created + the absolute timeout), whatever the activity. */
    expiresAt: tstz('expires_at').notNull(),
    endedAt: tstz('ended_at'),
  },
  (t) => [index('sessions_user').on(t.userId)],
);

/** Failed sign-ins, counted per account and per source address over a window (rate limit). */
export const signInFailures = pgTable(
  'sign_in_failures',
  {
    key: text('key').notNull(),
    at: tstz('at').notNull().defaultNow(),
  },
  (t) => [index('sign_in_failures_key').on(t.key, t.at)],
);

export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  version: integer('version').notNull().default(1),
});

/** Enrollment invitations (migration 0008): one use, the secret stored only as its SHA-256. */
export const invitations = pgTable(
  'invitations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    secretHash: text('secret_hash').notNull(),
    profile: text('profile').notNull(),
    /** The token-style limits: profiles (this one), subject, sanPatterns. */
    limits: jsonb('limits').notNull(),
    /** The exact SANs of the certificate; null: the CSR's, within the patterns. */
    sans: jsonb('sans'),
    ttlSeconds: integer('ttl_seconds'),
    expiresAt: tstz('expires_at').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    usedAt: tstz('used_at'),
    certificateId: uuid('certificate_id'),
    revokedAt: tstz('revoked_at'),
  },
  (t) => [uniqueIndex('invitations_secret_hash').on(t.secretHash), index('invitations_created_at').on(t.createdAt, t.id)],
);

/** Roots Anvil trusts but holds no key for (migration 0010): in the trust bundle, never signing. */
export const trustAnchors = pgTable('trust_anchors', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  subject: text('subject').notNull(),
  certificateDer: bytea('certificate_der').notNull(),
  fingerprintSha256: text('fingerprint_sha256').notNull().unique(),
  notAfter: tstz('not_after').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

/** Intermediates waiting for an external root's signature (migration 0010): key held, CSR exported. */
export const pendingIssuers = pgTable('pending_issuers', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  subject: text('subject').notNull(),
  keyAlgorithm: text('key_algorithm').notNull(),
  encryptedKey: bytea('encrypted_key'),
  keyRef: text('key_ref'),
  csrDer: bytea('csr_der').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

// ---- ACME (migration 0016): nonces, accounts, orders, authorizations, challenges ----

export const acmeNonces = pgTable('acme_nonces', {
  nonce: text('nonce').primaryKey(),
  expiresAt: tstz('expires_at').notNull(),
});

export const acmeAccounts = pgTable(
  'acme_accounts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    profile: text('profile').notNull(),
    jwk: jsonb('jwk').notNull(),
    thumbprint: text('thumbprint').notNull(),
    status: text('status').notNull(),
    contact: jsonb('contact').notNull().default(sql`'[]'::jsonb`),
    eabKeyId: text('eab_key_id'),
    limits: jsonb('limits'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('acme_accounts_thumbprint').on(t.profile, t.thumbprint)],
);

export const acmeOrders = pgTable('acme_orders', {
  id: uuid('id').primaryKey().defaultRandom(),
  accountId: uuid('account_id').notNull(),
  profile: text('profile').notNull(),
  identifiers: jsonb('identifiers').notNull(),
  status: text('status').notNull(),
  expires: tstz('expires').notNull(),
  notBefore: tstz('not_before'),
  notAfter: tstz('not_after'),
  certificateId: uuid('certificate_id'),
  error: jsonb('error'),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

export const acmeAuthorizations = pgTable('acme_authorizations', {
  id: uuid('id').primaryKey().defaultRandom(),
  orderId: uuid('order_id').notNull(),
  accountId: uuid('account_id').notNull(),
  identifier: jsonb('identifier').notNull(),
  wildcard: boolean('wildcard').notNull().default(false),
  status: text('status').notNull(),
  expires: tstz('expires').notNull(),
});

export const acmeChallenges = pgTable('acme_challenges', {
  id: uuid('id').primaryKey().defaultRandom(),
  authorizationId: uuid('authorization_id').notNull(),
  type: text('type').notNull(),
  token: text('token').notNull(),
  status: text('status').notNull(),
  validated: tstz('validated'),
  error: jsonb('error'),
});

// ---- ACME External Account Binding (migration 0017) ----
export const acmeEabCredentials = pgTable(
  'acme_eab_credentials',
  {
    keyId: text('key_id').primaryKey(),
    name: text('name').notNull(),
    encryptedHmacKey: bytea('encrypted_hmac_key').notNull(),
    limits: jsonb('limits').notNull(),
    expiresAt: tstz('expires_at'),
    createdBy: text('created_by').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    revokedAt: tstz('revoked_at'),
    boundAt: tstz('bound_at'),
    accountId: uuid('account_id'),
  },
  (t) => [index('acme_eab_credentials_created_at').on(t.createdAt)],
);
