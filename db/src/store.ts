/** The Store of packages/ca over drizzle, for PGlite and PostgreSQL alike. */
import { randomBytes, randomUUID } from 'node:crypto';
import { and, asc, desc, eq, gt, gte, inArray, isNull, lt, ne, sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { sqlState } from './errors.ts';
import { GroupCommit } from './group-commit.ts';
import type {
  RevocationReason,
  RevokedRow,
  SerialStatus,
  StoredCrl,
  AuditChainRow,
  AuditEntry,
  AuditQuery,
  AuditRecord,
  SessionRecord,
  UserRecord,
  CertificateQuery,
  CertificateRecord,
  IdempotencyRecord,
  InvitationRecord,
  IssuerRecord,
  NewCertificate,
  ProfileRecord,
  NoticeConfirmation,
  RevocationSubscriber,
  Store,
  StoreTx,
  TokenLimits,
  TokenRecord,
  AcmeStoreTx,
  AcmeEabStoreTx,
} from '@anvil/ca';
import { emissionIntervalUs, RATE_WINDOW_MS, retryAfterSeconds, revocationReasonFromColumn } from '@anvil/ca';
import { packRevokedEntries, REVOCATION_REASON_CODES, type PackedRevokedEntries } from '@anvil/ca';
import type { CrossCertificateRecord, PendingIssuerRecord, TrustAnchorRecord } from '@anvil/ca';
import * as schema from './schema.ts';
import { DrizzleAcmeStore } from './acme-store.ts';
import { DrizzleAcmeEabStore } from './acme-eab-store.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

const {
  issuers,
  certificates,
  profiles,
  idempotencyKeys,
  apiTokens,
  auditLog,
  settings,
  crls,
  serialReservations,
  users,
  sessions,
  signInFailures,
  invitations,
} = schema;

const REVOCATION_CHANNEL = 'anvil_revocation';
const CRL_PAGE = 20_000;

type CertificateRow = typeof certificates.$inferSelect;

function toCertificate(row: CertificateRow): CertificateRecord {
  return {
    id: row.id,
    issuerId: row.issuerId,
    serial: row.serial,
    profile: row.profile,
    subject: row.subject,
    commonName: row.commonName,
    sans: row.sans as CertificateRecord['sans'],
    keyAlgorithm: row.keyAlgorithm,
    notBefore: row.notBefore,
    notAfter: row.notAfter,
    der: row.der,
    fingerprintSha256: row.fingerprintSha256,
    status: row.status as CertificateRecord['status'],
    revokedAt: row.revokedAt,
    revocationReason: revocationReasonFromColumn(row.revocationReason),
    requestedBy: row.requestedBy,
    supersededBy: row.supersededBy,
    createdAt: row.createdAt,
  };
}

/** An invitation row without its secret's hash. */
function toInvitation(row: typeof invitations.$inferSelect): InvitationRecord {
  return {
    id: row.id,
    name: row.name,
    profile: row.profile,
    limits: row.limits as TokenLimits,
    sans: row.sans as InvitationRecord['sans'],
    ttlSeconds: row.ttlSeconds,
    expiresAt: row.expiresAt,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    usedAt: row.usedAt,
    certificateId: row.certificateId,
    revokedAt: row.revokedAt,
  };
}

/** A token row without its hash: nothing above the store ever sees one. */
function toToken(row: typeof apiTokens.$inferSelect): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as string[],
    revokedAt: row.revokedAt,
    limits: (row.limits as TokenLimits | null) ?? null,
    rateLimit: row.rateLimit,
    expiresAt: row.expiresAt,
    lastUsedAt: row.lastUsedAt,
    createdAt: row.createdAt,
  };
}

function toIssuer(row: typeof issuers.$inferSelect): IssuerRecord {
  const { crlNumber: _crlNumber, createdAt: _createdAt, ...rest } = row;
  return {
    ...rest,
    kind: row.kind as IssuerRecord['kind'],
    revocationReason: revocationReasonFromColumn(row.revocationReason),
    nameConstraints: (row.nameConstraints as IssuerRecord['nameConstraints']) ?? null,
  };
}

/** What the search box matches: CN, serial, SANs, subject (organisation) and SHA-256 fingerprint (migration 0005 keeps old rows alike). */
function searchText(c: NewCertificate): string {
  return [c.commonName ?? '', c.serial, ...c.sans.dns, ...c.sans.ip, ...c.sans.uri, ...c.sans.email, c.subject, c.fingerprintSha256]
    .join(' ')
    .toLowerCase();
}

/** LIKE's wildcards taken literally. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The search box's text as search_text holds it: lower case; a hex serial or fingerprint may be written with colons. */
function searchTerm(q: string): string {
  const text = q.trim().toLowerCase();
  return /^[0-9a-f]{2}(:[0-9a-f]{2})+$/.test(text) ? text.replaceAll(':', '') : text;
}

function toUser(row: typeof users.$inferSelect): UserRecord {
  return {
    id: row.id,
    username: row.username,
    role: row.role as UserRecord['role'],
    passwordHash: row.passwordHash,
    mustChangePassword: row.mustChangePassword,
    disabledAt: row.disabledAt,
    createdAt: row.createdAt,
  };
}

/**
 * The cursor names the last row of a page; the next page continues strictly after that row's
 * (created_at, id) as the database holds it. (Carrying the time in the cursor would lose the
 * microseconds PostgreSQL keeps, and skip rows created within one millisecond.)
 */
function encodeCursor(row: CertificateRecord): string {
  return Buffer.from(row.id).toString('base64url');
}

function decodeCursor(cursor: string): string | null {
  const id = Buffer.from(cursor, 'base64url').toString();
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id) ? id : null;
}

export class InvalidCursorError extends Error {
  readonly code = 'invalid_cursor';
}

type IssuedCertificateOptions = {
  idempotency?: { tokenId: string; key: string; requestHash: string };
  supersedes?: string;
  invitation?: { id: string; at: Date };
};

/**
 * The one statement that records an issued certificate, and how its result becomes the record.
 * One statement, so one round trip and one implicit transaction (or a part of a group commit's):
 * the idempotency key (when given; ON CONFLICT DO NOTHING waits for a concurrent holder and then
 * yields nothing), the renewed certificate's mark (when given; only an active, unrenewed row
 * takes it, and a concurrent renewal or revocation is waited for and re-checked), the certificate
 * only if both were won, and the audit row only if the certificate was written.
 */
function issuedCertificateWrite(
  cert: NewCertificate,
  audit: Omit<AuditEntry, 'target'>,
  options: IssuedCertificateOptions,
): { statement: SQL; finish: (result: unknown) => CertificateRecord | null } {
  const { idempotency, supersedes, invitation } = options;
  const id = randomUUID();
  const won = idempotency
    ? sql`won as (
        insert into idempotency_keys (token_id, key, request_hash, certificate_id)
        values (${idempotency.tokenId}, ${idempotency.key}, ${idempotency.requestHash}, ${id})
        on conflict do nothing returning key),`
    : sql``;
  const renewed = supersedes
    ? sql`renewed as (
        update certificates set superseded_by = ${id}
        where id = ${supersedes} and status = 'active' and superseded_by is null returning id),`
    : sql``;
  // An invitation is used once: a concurrent use waits on the row lock, then finds used_at set and takes nothing.
  const invited = invitation
    ? sql`invited as (
        update invitations set used_at = ${invitation.at.toISOString()}::timestamptz, certificate_id = ${id}
        where id = ${invitation.id} and used_at is null and revoked_at is null
          and expires_at > ${invitation.at.toISOString()}::timestamptz returning id),`
    : sql``;
  const conditions = [
    idempotency ? sql`exists (select 1 from won)` : null,
    supersedes ? sql`exists (select 1 from renewed)` : null,
    invitation ? sql`exists (select 1 from invited)` : null,
  ].filter((c): c is SQL => c !== null);
  const statement = sql`
    with ${won} ${renewed} ${invited}
    c as (
      insert into certificates (id, issuer_id, serial, profile, subject, common_name, sans, search_text,
                                key_algorithm, not_before, not_after, der, fingerprint_sha256, requested_by)
      select ${id}, ${cert.issuerId}, ${cert.serial}, ${cert.profile}, ${cert.subject}, ${cert.commonName},
             ${JSON.stringify(cert.sans)}::jsonb, ${searchText(cert)}, ${cert.keyAlgorithm},
             ${cert.notBefore.toISOString()}::timestamptz, ${cert.notAfter.toISOString()}::timestamptz,
             ${Buffer.from(cert.der)}, ${cert.fingerprintSha256}, ${cert.requestedBy}
      ${conditions.length ? sql`where ${sql.join(conditions, sql` and `)}` : sql``}
      returning created_at),
    a as (
      insert into audit_log (actor, source, action, target, outcome, details)
      select ${audit.actor}, ${audit.source}, ${audit.action}, ${id}, ${audit.outcome}, ${JSON.stringify(audit.details ?? null)}::jsonb
      from c)
    select created_at from c`;
  const finish = (result: unknown): CertificateRecord | null => {
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{ created_at: string | Date }>;
    if (rows.length === 0) return null;
    return {
      ...cert,
      id,
      status: 'active',
      revokedAt: null,
      revocationReason: null,
      supersededBy: null,
      createdAt: new Date(rows[0].created_at),
    };
  };
  return { statement, finish };
}

/** StoreTx over a drizzle database or transaction handle. */
export class DrizzleTx implements StoreTx {
  constructor(protected readonly db: Db) {}

  /** ACME accounts, orders, authorizations, challenges and nonces (acme-store.ts), on the same handle. */
  get acme(): AcmeStoreTx {
    return new DrizzleAcmeStore(this.db);
  }

  /** ACME External Account Binding credentials (acme-eab-store.ts), on the same handle. */
  get acmeEab(): AcmeEabStoreTx {
    return new DrizzleAcmeEabStore(this.db);
  }

  async insertIssuer(issuer: Omit<IssuerRecord, 'id' | 'status'>): Promise<IssuerRecord> {
    const [row] = await this.db.insert(issuers).values(issuer).returning();
    return toIssuer(row);
  }

  async listIssuers(): Promise<IssuerRecord[]> {
    const rows = await this.db.select().from(issuers).orderBy(issuers.createdAt);
    // A retired issuer publishes until its last certificate expires: that date comes with its row.
    return Promise.all(
      rows.map(async (row) =>
        row.status === 'retired' ? { ...toIssuer(row), lastCertificateExpiry: await this.lastCertificateExpiry(row.id) } : toIssuer(row),
      ),
    );
  }

  async reserveSerials(issuerId: string, serials: string[]): Promise<string[]> {
    const rows = await this.db
      .insert(serialReservations)
      .values(serials.map((serial) => ({ issuerId, serial })))
      .onConflictDoNothing()
      .returning({ serial: serialReservations.serial });
    return rows.map((r) => r.serial);
  }

  /**
   * One statement, so one round trip and one implicit transaction: the idempotency key (when
   * given; ON CONFLICT DO NOTHING waits for a concurrent holder and then yields nothing), the
   * renewed certificate's mark (when given; only an active, unrenewed row takes it, and a
   * concurrent renewal or revocation is waited for and re-checked), the certificate only if both
   * were won, and the audit row only if the certificate was written.
   */
  /** Records an issued certificate; see issuedCertificateWrite. Outside a transaction, in a group commit (DrizzleStore). */
  async insertIssuedCertificate(
    cert: NewCertificate,
    audit: Omit<AuditEntry, 'target'>,
    options: IssuedCertificateOptions = {},
  ): Promise<CertificateRecord | null> {
    const write = issuedCertificateWrite(cert, audit, options);
    return write.finish(await this.db.execute(write.statement));
  }

  async getCertificate(id: string): Promise<CertificateRecord | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const [row] = await this.db.select().from(certificates).where(eq(certificates.id, id));
    return row ? toCertificate(row) : null;
  }

  async getCertificateBySerial(issuerId: string, serial: string): Promise<CertificateRecord | null> {
    const [row] = await this.db
      .select()
      .from(certificates)
      .where(and(eq(certificates.issuerId, issuerId), eq(certificates.serial, serial)));
    return row ? toCertificate(row) : null;
  }

  async listCertificates(query: CertificateQuery): Promise<{ items: CertificateRecord[]; nextCursor: string | null }> {
    const where: SQL[] = [];
    if (query.status) where.push(eq(certificates.status, query.status));
    if (query.profile) where.push(eq(certificates.profile, query.profile));
    if (query.issuerId) where.push(eq(certificates.issuerId, query.issuerId));
    if (query.requestedBy) where.push(eq(certificates.requestedBy, query.requestedBy));
    if (query.expiresBefore) where.push(lt(certificates.notAfter, query.expiresBefore));
    if (query.q) {
      const pattern = `%${escapeLike(searchTerm(query.q))}%`;
      where.push(sql`${certificates.searchText} like ${pattern}`);
    }
    const byExpiry = query.sort === 'expiry';
    if (query.cursor) {
      const id = decodeCursor(query.cursor);
      const [last] = id ? await this.db.select({ id: certificates.id }).from(certificates).where(eq(certificates.id, id)) : [];
      if (!last) throw new InvalidCursorError('the cursor is not one this server issued');
      where.push(
        byExpiry
          ? sql`(${certificates.notAfter}, ${certificates.id}) > (select c.not_after, c.id from certificates c where c.id = ${id})`
          : sql`(${certificates.createdAt}, ${certificates.id}) < (select c.created_at, c.id from certificates c where c.id = ${id})`,
      );
    }
    const rows = await this.db
      .select()
      .from(certificates)
      .where(where.length ? and(...where) : undefined)
      .orderBy(...(byExpiry ? [asc(certificates.notAfter), asc(certificates.id)] : [desc(certificates.createdAt), desc(certificates.id)]))
      .limit(query.limit + 1);
    const items = rows.slice(0, query.limit).map(toCertificate);
    return { items, nextCursor: rows.length > query.limit ? encodeCursor(items[items.length - 1]) : null };
  }

  async certificateCounts(): Promise<Array<{ status: CertificateRecord['status']; profile: string; count: number }>> {
    const rows = await this.db
      .select({ status: certificates.status, profile: certificates.profile, count: sql<number>`count(*)::int` })
      .from(certificates)
      .groupBy(certificates.status, certificates.profile)
      .orderBy(certificates.profile, certificates.status);
    return rows.map((r) => ({ status: r.status as CertificateRecord['status'], profile: r.profile, count: Number(r.count) }));
  }

  async getProfile(name: string): Promise<ProfileRecord | null> {
    const [row] = await this.db.select().from(profiles).where(eq(profiles.name, name));
    return row ? { name: row.name, kind: row.kind as ProfileRecord['kind'], builtin: row.builtin, policy: row.policy } : null;
  }

  async listProfiles(): Promise<ProfileRecord[]> {
    const rows = await this.db.select().from(profiles).orderBy(profiles.name);
    return rows.map((r) => ({ name: r.name, kind: r.kind as ProfileRecord['kind'], builtin: r.builtin, policy: r.policy }));
  }

  async upsertProfile(p: ProfileRecord): Promise<ProfileRecord> {
    await this.db
      .insert(profiles)
      .values({ name: p.name, kind: p.kind, builtin: p.builtin, policy: p.policy })
      .onConflictDoUpdate({ target: profiles.name, set: { kind: p.kind, policy: p.policy, updatedAt: new Date() } });
    return p;
  }

  async getIdempotency(tokenId: string, key: string): Promise<IdempotencyRecord | null> {
    const [row] = await this.db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.tokenId, tokenId), eq(idempotencyKeys.key, key)));
    return row ? { requestHash: row.requestHash, certificateId: row.certificateId } : null;
  }

  async insertToken(token: {
    name: string;
    tokenHash: string;
    scopes: string[];
    limits?: TokenLimits | null;
    rateLimit?: number | null;
    expiresAt?: Date | null;
  }): Promise<TokenRecord> {
    const [row] = await this.db
      .insert(apiTokens)
      .values({ ...token, limits: token.limits ?? null, rateLimit: token.rateLimit ?? null, expiresAt: token.expiresAt ?? null })
      .returning();
    return toToken(row);
  }

  async findTokenByHash(tokenHash: string): Promise<TokenRecord | null> {
    const [row] = await this.db.select().from(apiTokens).where(eq(apiTokens.tokenHash, tokenHash));
    return row ? toToken(row) : null;
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    // seq, prev_hash and hash are set by the chain trigger of migration 0006 (whatever is sent).
    await this.db.execute(sql`
      insert into audit_log (actor, source, action, target, outcome, details)
      values (${entry.actor}, ${entry.source}, ${entry.action}, ${entry.target}, ${entry.outcome},
              ${entry.details === undefined ? null : JSON.stringify(entry.details)}::jsonb)`);
  }

  async listAudit(params: AuditQuery): Promise<AuditRecord[]> {
    const where: SQL[] = [];
    if (params.beforeId) where.push(lt(auditLog.id, BigInt(params.beforeId)));
    if (params.afterId) where.push(gt(auditLog.id, BigInt(params.afterId)));
    if (params.actor) where.push(sql`${auditLog.actor} ilike ${`%${escapeLike(params.actor)}%`}`);
    if (params.action) {
      where.push(
        params.action.endsWith('.') ? sql`${auditLog.action} like ${`${escapeLike(params.action)}%`}` : eq(auditLog.action, params.action),
      );
    }
    if (params.target) where.push(eq(auditLog.target, params.target));
    if (params.outcome) where.push(eq(auditLog.outcome, params.outcome));
    if (params.from) where.push(gte(auditLog.at, params.from));
    if (params.to) where.push(lt(auditLog.at, params.to));
    const rows = await this.db
      .select()
      .from(auditLog)
      .where(where.length ? and(...where) : undefined)
      .orderBy(params.order === 'oldest' ? asc(auditLog.id) : desc(auditLog.id))
      .limit(params.limit);
    return rows.map((r) => ({
      id: r.id.toString(),
      at: r.at,
      actor: r.actor,
      source: r.source,
      action: r.action,
      target: r.target,
      outcome: r.outcome as AuditEntry['outcome'],
      details: (r.details ?? undefined) as Record<string, unknown> | undefined,
      seq: r.seq.toString(),
      prevHash: r.prevHash,
      hash: r.hash,
    }));
  }

  /** Keyset on seq alone: its unique index orders the chain, so a page is an index range. */
  async auditChainPage(afterSeq: string | null, limit: number): Promise<AuditChainRow[]> {
    const after = afterSeq === null ? sql`` : sql`where audit_log.seq > ${afterSeq}::bigint`;
    const result: unknown = await this.db.execute(sql`
      select id::text as id, seq::text as seq,
             to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
             actor, source, action, target, outcome, details::text as details, prev_hash, hash
      from audit_log ${after} order by audit_log.seq limit ${limit}`); // the table's bigint, not the text alias
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<
      Omit<AuditChainRow, 'prevHash'> & { prev_hash: string | null }
    >;
    return rows.map(({ prev_hash, ...r }) => ({ ...r, prevHash: prev_hash }));
  }

  async insertUser(user: Pick<UserRecord, 'username' | 'role' | 'passwordHash' | 'mustChangePassword'>): Promise<UserRecord | null> {
    const [row] = await this.db.insert(users).values(user).onConflictDoNothing().returning();
    return row ? toUser(row) : null;
  }

  async getUser(id: string): Promise<UserRecord | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const [row] = await this.db.select().from(users).where(eq(users.id, id));
    return row ? toUser(row) : null;
  }

  async getUserByName(username: string): Promise<UserRecord | null> {
    const [row] = await this.db.select().from(users).where(eq(users.username, username));
    return row ? toUser(row) : null;
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.db.select().from(users).orderBy(users.username);
    return rows.map(toUser);
  }

  async updateUser(
    id: string,
    patch: Partial<Pick<UserRecord, 'role' | 'passwordHash' | 'mustChangePassword' | 'disabledAt'>>,
  ): Promise<UserRecord | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const [row] = await this.db
      .update(users)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(users.id, id))
      .returning();
    return row ? toUser(row) : null;
  }

  async insertSession(session: Pick<SessionRecord, 'idHash' | 'userId' | 'createdAt' | 'lastSeenAt' | 'expiresAt'>): Promise<void> {
    await this.db.insert(sessions).values(session);
  }

  async getSession(idHash: string): Promise<{ session: SessionRecord; user: UserRecord } | null> {
    const [row] = await this.db.select().from(sessions).innerJoin(users, eq(users.id, sessions.userId)).where(eq(sessions.idHash, idHash));
    return row ? { session: row.sessions, user: toUser(row.users) } : null;
  }

  async touchSession(idHash: string, at: Date): Promise<void> {
    await this.db.update(sessions).set({ lastSeenAt: at }).where(eq(sessions.idHash, idHash));
  }

  async endSession(idHash: string, at: Date): Promise<void> {
    await this.db
      .update(sessions)
      .set({ endedAt: at })
      .where(and(eq(sessions.idHash, idHash), isNull(sessions.endedAt)));
  }

  async endUserSessions(userId: string, at: Date, keep?: string): Promise<void> {
    const open = and(eq(sessions.userId, userId), isNull(sessions.endedAt));
    await this.db
      .update(sessions)
      .set({ endedAt: at })
      .where(keep ? and(open, ne(sessions.idHash, keep)) : open);
  }

  async recordSignInFailure(keys: string[], at: Date): Promise<void> {
    await this.db.insert(signInFailures).values(keys.map((key) => ({ key, at })));
  }

  async countSignInFailures(key: string, since: Date): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(signInFailures)
      .where(and(eq(signInFailures.key, key), gte(signInFailures.at, since)));
    return Number(row?.n ?? 0);
  }

  async clearSignInFailures(key: string): Promise<void> {
    await this.db.delete(signInFailures).where(eq(signInFailures.key, key));
  }

  async pruneSignInFailures(before: Date): Promise<void> {
    await this.db.delete(signInFailures).where(lt(signInFailures.at, before));
  }

  async revokeCertificate(id: string, reason: RevocationReason, at: Date): Promise<{ record: CertificateRecord; changed: boolean } | null> {
    const [row] = await this.db
      .update(certificates)
      .set({ status: 'revoked', revokedAt: at, revocationReason: reason })
      .where(and(eq(certificates.id, id), eq(certificates.status, 'active')))
      .returning();
    if (row) return { record: toCertificate(row), changed: true };
    const current = await this.getCertificate(id);
    return current ? { record: current, changed: false } : null;
  }

  async releaseHold(id: string): Promise<CertificateRecord | null> {
    const [row] = await this.db
      .update(certificates)
      .set({ status: 'active', revokedAt: null, revocationReason: null })
      .where(and(eq(certificates.id, id), eq(certificates.status, 'revoked'), eq(certificates.revocationReason, 'certificateHold')))
      .returning();
    return row ? toCertificate(row) : null;
  }

  async revokeIssuer(id: string, reason: RevocationReason, at: Date): Promise<IssuerRecord | null> {
    await this.db
      .update(issuers)
      .set({ status: 'revoked', revokedAt: at, revocationReason: reason })
      // A retired issuer's certificate can still be revoked (its key compromised after rotation).
      .where(and(eq(issuers.id, id), inArray(issuers.status, ['active', 'retired'])));
    const [row] = await this.db.select().from(issuers).where(eq(issuers.id, id));
    return row ? toIssuer(row) : null;
  }

  async retireIssuer(id: string, at: Date, successorId: string | null): Promise<IssuerRecord | null> {
    const [row] = await this.db
      .update(issuers)
      .set({ status: 'retired', retiredAt: at, successorId })
      .where(and(eq(issuers.id, id), eq(issuers.status, 'active')))
      .returning();
    if (!row) return null;
    return { ...toIssuer(row), lastCertificateExpiry: await this.lastCertificateExpiry(id) };
  }

  /** When the last certificate the issuer signed expires; null when it signed none. */
  private async lastCertificateExpiry(issuerId: string): Promise<Date | null> {
    const [last] = await this.db
      .select({ at: sql<string | Date | null>`max(${certificates.notAfter})` })
      .from(certificates)
      .where(eq(certificates.issuerId, issuerId));
    return last?.at ? new Date(last.at) : null;
  }

  async insertCrossCertificate(cross: Omit<CrossCertificateRecord, 'id'>): Promise<CrossCertificateRecord> {
    const [{ createdAt: _createdAt, ...row }] = await this.db.insert(schema.crossCertificates).values(cross).returning();
    return row;
  }

  async listCrossCertificates(): Promise<CrossCertificateRecord[]> {
    const rows = await this.db.select().from(schema.crossCertificates).orderBy(schema.crossCertificates.createdAt);
    return rows.map(({ createdAt: _createdAt, ...row }) => row);
  }

  async nextCrlNumber(issuerId: string): Promise<bigint> {
    const [row] = await this.db
      .update(issuers)
      .set({ crlNumber: sql`${issuers.crlNumber} + 1` })
      .where(eq(issuers.id, issuerId))
      .returning({ crlNumber: issuers.crlNumber });
    if (!row) throw new Error(`no issuer ${issuerId}`);
    return row.crlNumber;
  }

  async *revokedEntries(issuerId: string, expiredBefore: Date): AsyncIterable<RevokedRow> {
    yield* revokedChildCas(this.db, issuerId);
    // A cursor in the caller's transaction, read in the table's physical order. Keyset pages in
    // serial order made every row a random heap read: 1M revoked rows took ~9 s to stream that
    // way against ~1 s like this. RFC 5280 puts no order on CRL entries.
    const cursor = `anvil_crl_${randomBytes(8).toString('hex')}`;
    await this.db.execute(sql`declare ${sql.raw(cursor)} no scroll cursor for
      select ${certificates.serial} as serial, ${certificates.revokedAt} as revoked_at, ${certificates.revocationReason} as reason
      from ${certificates}
      where ${certificates.issuerId} = ${issuerId} and ${certificates.status} = 'revoked'
        and ${certificates.notAfter} > ${expiredBefore.toISOString()}::timestamptz`);
    try {
      for (;;) {
        const result: unknown = await this.db.execute(sql.raw(`fetch forward ${CRL_PAGE} from ${cursor}`));
        // postgres.js answers a row array, PGlite an object holding `rows`.
        const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{
          serial: string;
          revoked_at: Date | string;
          reason: string | null;
        }>;
        for (const r of rows) {
          yield {
            serialHex: r.serial,
            revokedAt: r.revoked_at instanceof Date ? r.revoked_at : new Date(r.revoked_at),
            reason: revocationReasonFromColumn(r.reason ?? 'unspecified'),
          };
        }
        if (rows.length < CRL_PAGE) break;
      }
    } finally {
      await this.db.execute(sql.raw(`close ${cursor}`)).catch(() => {}); // fails only if the transaction already did
    }
  }

  /**
   * The entries of revokedEntries packed for the CRL builder, from one cursor (one snapshot):
   * its first row is the summary, then each row is a page of entries that PostgreSQL packed with
   * string_agg over a range of the table's blocks (a TID range scan, in physical order), so no
   * row reaches JavaScript per certificate. The next page is fetched while the builder encodes
   * the current one.
   */
  async revokedEntryPages(issuerId: string, expiredBefore: Date): Promise<PackedRevokedEntries> {
    const cas: RevokedRow[] = [];
    for await (const ca of revokedChildCas(this.db, issuerId)) cas.push(ca);
    const children = packRevokedEntries(cas);
    const step = await crlPageBlocks(this.db);
    const cursor = `anvil_crl_${randomBytes(8).toString('hex')}`;
    const scope = sql`${certificates.issuerId} = ${issuerId} and ${certificates.status} = 'revoked'
        and ${certificates.notAfter} > ${expiredBefore.toISOString()}::timestamptz`;
    await this.db.execute(sql`declare ${sql.raw(cursor)} no scroll cursor for
      select null::bytea as page, count(*) as n, coalesce(sum(length(${certificates.serial})), 0) / 2 as serial_octets,
             count(*) filter (where coalesce(${certificates.revocationReason}, 'unspecified') <> 'unspecified') as with_reason,
             count(*) filter (where ${certificates.revokedAt} < '1950-01-01T00:00:00Z' or ${certificates.revokedAt} >= '2050-01-01T00:00:00Z') as generalized
        from ${certificates} where ${scope}
      union all
      select c.page, null, null, null, null
        from generate_series(0::bigint, pg_relation_size('certificates') / current_setting('block_size')::bigint, ${step}::bigint) b
        cross join lateral (
          select string_agg(${PACKED_ENTRY}, ''::bytea) as page from ${certificates}
          where ctid >= format('(%s,0)', b)::tid and ctid < format('(%s,0)', b + ${step}::bigint)::tid and ${scope}
        ) c
        where c.page is not null`);
    const fetch = () => {
      const rows = this.db.execute(sql.raw(`fetch forward ${CRL_FETCH_PAGES} from ${cursor}`)).then(rowsOf<CrlCursorRow>);
      rows.catch(() => {}); // awaited below; a rollback while the builder works must not go unhandled
      return rows;
    };
    let head: CrlCursorRow[];
    try {
      head = await fetch();
    } catch (err) {
      await this.db.execute(sql.raw(`close ${cursor}`)).catch(() => {});
      throw err;
    }
    const first = head[0];
    if (!first || first.page !== null) throw new Error('the CRL cursor did not start with its summary row');
    const db = this.db;
    const summary = {
      count: Number(first.n) + children.summary.count,
      serialOctets: Number(first.serial_octets) + children.summary.serialOctets,
      withReasonCode: Number(first.with_reason) + children.summary.withReasonCode,
      generalizedTimes: Number(first.generalized) + children.summary.generalizedTimes,
    };
    async function* pages(): AsyncIterable<Uint8Array> {
      // A short answer is the cursor's last.
      let next: Promise<CrlCursorRow[]> | null = head.length === CRL_FETCH_PAGES ? fetch() : null;
      try {
        yield* children.pages as Uint8Array[];
        for (const r of head.slice(1)) if (r.page) yield r.page;
        while (next) {
          const rows: CrlCursorRow[] = await next;
          next = rows.length === CRL_FETCH_PAGES ? fetch() : null;
          for (const r of rows) if (r.page) yield r.page;
        }
      } finally {
        if (next) await next.catch(() => {});
        await db.execute(sql.raw(`close ${cursor}`)).catch(() => {}); // fails only if the transaction already did
      }
    }
    return { summary, pages: pages() };
  }

  /**
   * A CRL can be tens of MB, and postgres.js builds a statement's whole message in memory (a
   * bytea parameter as hex, twice its size, copied twice more on the way out). A big one goes as
   * parts of CRL_SAVE_PART octets (base64) into a temporary table and is joined by PostgreSQL,
   * so the process holds at most a few parts at once besides the CRL itself. The row is written
   * once, by one upsert either way.
   */
  async saveCrl(crl: StoredCrl): Promise<void> {
    const bytes = Buffer.from(crl.der.buffer, crl.der.byteOffset, crl.der.byteLength);
    const part = (start: number) => bytes.subarray(start, start + CRL_SAVE_PART).toString('base64');
    let der: SQL;
    if (bytes.length <= CRL_SAVE_PART) {
      der = sql`decode(${part(0)}, 'base64')`;
    } else {
      await this.db.execute(sql`create temporary table anvil_crl_parts (seq integer not null, part bytea not null) on commit drop`);
      // No compression attempt on parts that are joined and dropped within the statement after.
      await this.db.execute(sql`alter table anvil_crl_parts alter column part set storage external`);
      const inFlight: Promise<unknown>[] = [];
      for (let seq = 0, start = 0; start < bytes.length; seq++, start += CRL_SAVE_PART) {
        if (inFlight.length >= CRL_SAVE_IN_FLIGHT) await inFlight.shift();
        // then() once: a drizzle query runs again on every then().
        const sent = this.db.execute(sql`insert into anvil_crl_parts values (${seq}, decode(${part(start)}, 'base64'))`).then(() => {});
        sent.catch(() => {}); // awaited below or by the loop
        inFlight.push(sent);
      }
      await Promise.all(inFlight);
      der = sql`(select string_agg(part, ''::bytea order by seq) from anvil_crl_parts)`;
    }
    await this.db
      .insert(crls)
      .values({ ...crl, der })
      .onConflictDoUpdate({
        target: crls.issuerId,
        set: {
          number: sql`excluded.number`,
          thisUpdate: sql`excluded.this_update`,
          nextUpdate: sql`excluded.next_update`,
          der: sql`excluded.der`,
        },
      });
    if (bytes.length > CRL_SAVE_PART) await this.db.execute(sql`drop table anvil_crl_parts`);
  }

  async getCrl(issuerId: string): Promise<StoredCrl | null> {
    const [row] = await this.db.select().from(crls).where(eq(crls.issuerId, issuerId));
    return row ?? null;
  }

  async getCrlHeader(issuerId: string): Promise<Omit<StoredCrl, 'der'> | null> {
    const [row] = await this.db
      .select({ issuerId: crls.issuerId, number: crls.number, thisUpdate: crls.thisUpdate, nextUpdate: crls.nextUpdate })
      .from(crls)
      .where(eq(crls.issuerId, issuerId));
    return row ?? null;
  }

  async serialStatus(issuerId: string, serial: string): Promise<SerialStatus | null> {
    const [cert] = await this.db
      .select({
        status: certificates.status,
        revokedAt: certificates.revokedAt,
        reason: certificates.revocationReason,
        notAfter: certificates.notAfter,
      })
      .from(certificates)
      .where(and(eq(certificates.issuerId, issuerId), eq(certificates.serial, serial)));
    const row =
      cert ??
      (
        await this.db
          .select({ status: issuers.status, revokedAt: issuers.revokedAt, reason: issuers.revocationReason, notAfter: issuers.notAfter })
          .from(issuers)
          .where(and(eq(issuers.parentId, issuerId), eq(issuers.serial, serial)))
      )[0];
    return row ? { ...row, status: row.status as SerialStatus['status'], reason: revocationReasonFromColumn(row.reason) } : null;
  }

  async notifyRevocation(issuerId: string): Promise<void> {
    await this.db.execute(sql`select pg_notify(${REVOCATION_CHANNEL}, ${issuerId})`);
  }

  async getSetting<T>(key: string): Promise<T | null> {
    const [row] = await this.db.select().from(settings).where(eq(settings.key, key));
    return row ? (row.value as T) : null;
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    await this.db.insert(settings).values({ key, value }).onConflictDoUpdate({ target: settings.key, set: { value } });
  }

  // ---- scoped API tokens ----

  async listTokens(): Promise<TokenRecord[]> {
    const rows = await this.db.select().from(apiTokens).orderBy(desc(apiTokens.createdAt), desc(apiTokens.id));
    return rows.map(toToken);
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const [row] = await this.db.select().from(apiTokens).where(eq(apiTokens.id, id));
    return row ? toToken(row) : null;
  }

  async insertInvitation(
    invitation: Omit<InvitationRecord, 'id' | 'createdAt' | 'usedAt' | 'certificateId' | 'revokedAt'> & { secretHash: string },
  ): Promise<InvitationRecord> {
    const [row] = await this.db.insert(invitations).values(invitation).returning();
    return toInvitation(row);
  }

  async getInvitation(id: string): Promise<InvitationRecord | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const [row] = await this.db.select().from(invitations).where(eq(invitations.id, id));
    return row ? toInvitation(row) : null;
  }

  async findInvitationBySecretHash(secretHash: string): Promise<InvitationRecord | null> {
    const [row] = await this.db.select().from(invitations).where(eq(invitations.secretHash, secretHash));
    return row ? toInvitation(row) : null;
  }

  async listInvitations(query: { limit: number; before?: string }): Promise<InvitationRecord[]> {
    const before =
      query.before && /^[0-9a-f-]{36}$/i.test(query.before)
        ? sql`(${invitations.createdAt}, ${invitations.id}) < (select i.created_at, i.id from invitations i where i.id = ${query.before})`
        : undefined;
    const rows = await this.db
      .select()
      .from(invitations)
      .where(before)
      .orderBy(desc(invitations.createdAt), desc(invitations.id))
      .limit(query.limit);
    return rows.map(toInvitation);
  }

  async revokeInvitation(id: string, at: Date): Promise<InvitationRecord | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const [row] = await this.db
      .update(invitations)
      .set({ revokedAt: at })
      .where(and(eq(invitations.id, id), isNull(invitations.revokedAt), isNull(invitations.usedAt)))
      .returning();
    return row ? toInvitation(row) : null;
  }

  async listTrustAnchors(): Promise<TrustAnchorRecord[]> {
    const rows = await this.db.select().from(schema.trustAnchors).orderBy(schema.trustAnchors.createdAt);
    return rows.map(({ createdAt: _createdAt, ...anchor }) => anchor);
  }

  async insertTrustAnchor(anchor: Omit<TrustAnchorRecord, 'id'>): Promise<TrustAnchorRecord> {
    const [{ createdAt: _createdAt, ...row }] = await this.db.insert(schema.trustAnchors).values(anchor).returning();
    return row;
  }

  async listPendingIssuers(): Promise<PendingIssuerRecord[]> {
    return this.db.select().from(schema.pendingIssuers).orderBy(schema.pendingIssuers.createdAt);
  }

  async insertPendingIssuer(pending: Omit<PendingIssuerRecord, 'id' | 'createdAt'>): Promise<PendingIssuerRecord> {
    const [row] = await this.db.insert(schema.pendingIssuers).values(pending).returning();
    return row;
  }

  async deletePendingIssuer(id: string): Promise<boolean> {
    const rows = await this.db
      .delete(schema.pendingIssuers)
      .where(eq(schema.pendingIssuers.id, id))
      .returning({ id: schema.pendingIssuers.id });
    return rows.length === 1;
  }

  async revokeToken(id: string, at: Date): Promise<TokenRecord | null> {
    const [row] = await this.db
      .update(apiTokens)
      .set({ revokedAt: at })
      .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
      .returning();
    return row ? toToken(row) : null;
  }

  async touchToken(id: string, at: Date, minIntervalMs: number): Promise<void> {
    // The condition is the database's, so processes sharing it write at most once per interval.
    await this.db
      .update(apiTokens)
      .set({ lastUsedAt: at })
      .where(
        and(
          eq(apiTokens.id, id),
          sql`(${apiTokens.lastUsedAt} is null or ${apiTokens.lastUsedAt} <= ${new Date(at.getTime() - minIntervalMs).toISOString()}::timestamptz)`,
        ),
      );
  }

  /**
   * GCRA in one statement (the condition and new TAT of rate-limit.ts `gcra`): the UPDATE computes
   * from the row it locks, so a concurrent issuance of another process is waited for and counted
   * (PostgreSQL re-checks the WHERE on the row it committed). Refused: nothing is written, and the
   * TAT read beside it gives Retry-After (from the statement's snapshot: at worst a little early).
   */
  async takeIssuanceSlot(
    tokenId: string,
    limit: number,
    now: Date,
  ): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }> {
    const at = sql`${now.toISOString()}::timestamptz`;
    const t = sql`${`${emissionIntervalUs(limit)} microseconds`}::interval`;
    const next = sql`greatest(coalesce(rate_tat, ${at}), ${at}) + ${t}`;
    const result: unknown = await this.db.execute(sql`
      with taken as (
        update api_tokens set rate_tat = ${next}
        where id = ${tokenId} and ${next} - ${at} <= ${`${RATE_WINDOW_MS} milliseconds`}::interval
        returning id)
      select exists (select 1 from taken) as allowed,
             (select (extract(epoch from rate_tat) * 1000000)::bigint from api_tokens where id = ${tokenId}) as tat_us`);
    const [row] = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{
      allowed: boolean;
      tat_us: string | number | bigint | null;
    }>;
    if (row.allowed) return { allowed: true };
    const tatUs = row.tat_us === null ? null : Number(row.tat_us);
    return { allowed: false, retryAfterSeconds: retryAfterSeconds(tatUs, now.getTime() * 1000, limit) };
  }
}

/**
 * The transient strings of a big CRL's trip to and from the database are kept under V8's
 * large-object size (128 KiB): strings that small die young, in the scavenger, where the ~150
 * MB of larger ones that a million entries make (hex pages in, base64 parts out) piled up in
 * the old generation until a full collection (issue 13: peak RSS).
 *
 * saveCrl sends a CRL bigger than CRL_SAVE_PART in parts of that size (122,880 base64
 * characters), CRL_SAVE_IN_FLIGHT at a time.
 */
const CRL_SAVE_PART = 90 * 1024;
const CRL_SAVE_IN_FLIGHT = 1;
/** Entries per page of revokedEntryPages (about 52 KB packed, 104 KB as the hex that carries a bytea), CRL_FETCH_PAGES per FETCH. */
const CRL_PAGE_ENTRIES = 2_000;
const CRL_FETCH_PAGES = 4;

/** One row of revokedEntryPages' cursor: the summary (page null) or a page. */
interface CrlCursorRow {
  page: Uint8Array | null;
  n: string | number | bigint | null;
  serial_octets: string | number | bigint | null;
  with_reason: string | number | bigint | null;
  generalized: string | number | bigint | null;
}

/** postgres.js answers a row array, PGlite an object holding `rows`. */
function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/**
 * One certificate as PackedRevokedEntries lays it out (pki crl-builder.ts): serial length,
 * serial, revocation second (int8send is big-endian), CRLReason code. decode() refuses a serial
 * that is not hex; the builder checks the rest. A reason outside the table packs as 255, which
 * the builder refuses.
 */
const PACKED_ENTRY = sql.raw(
  `set_byte('\\x00'::bytea, 0, least(length(serial) / 2, 255)) || decode(serial, 'hex')
   || int8send(floor(date_part('epoch', revoked_at))::int8)
   || set_byte('\\x00'::bytea, 0, case coalesce(revocation_reason, 'unspecified') ${Object.entries(REVOCATION_REASON_CODES)
     .map(([name, code]) => `when '${name}' then ${code}`)
     .join(' ')} else 255 end)`,
);

/** Blocks per page of revokedEntryPages, from the planner's rows per block (a guess when never analysed). */
async function crlPageBlocks(db: Db): Promise<number> {
  const [row] = rowsOf<{ pages: number; tuples: number }>(
    await db.execute(sql`select relpages as pages, reltuples as tuples from pg_class where oid = 'certificates'::regclass`),
  );
  const perBlock = row && row.pages > 0 && row.tuples > 0 ? Number(row.tuples) / Number(row.pages) : 25;
  return Math.max(1, Math.ceil(CRL_PAGE_ENTRIES / perBlock));
}

/** Revoked CA certificates an issuer signed (few): the root's CRL lists revoked intermediates. */
async function* revokedChildCas(db: Db, issuerId: string): AsyncIterable<RevokedRow> {
  const cas = await db
    .select({ serial: issuers.serial, revokedAt: issuers.revokedAt, reason: issuers.revocationReason })
    .from(issuers)
    .where(and(eq(issuers.parentId, issuerId), eq(issuers.status, 'revoked')));
  for (const ca of cas)
    yield { serialHex: ca.serial, revokedAt: ca.revokedAt!, reason: revocationReasonFromColumn(ca.reason ?? 'unspecified') };
}

export interface StoreHooks {
  kind: 'pglite' | 'postgres';
  close(): Promise<void>;
  startupLock<T>(fn: () => Promise<T>): Promise<T>;
  listen(channel: string, subscriber: RevocationSubscriber): Promise<void>;
  /** See Store.confirmRevocationNotices (notification-listener.ts); absent: one process, nothing to confirm. */
  confirmNotices?(): Promise<NoticeConfirmation>;
}

export class DrizzleStore extends DrizzleTx implements Store {
  readonly kind: 'pglite' | 'postgres';

  constructor(
    readonly database: Db,
    private readonly hooks: StoreHooks,
  ) {
    super(database);
    this.kind = hooks.kind;
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new DrizzleTx(tx as unknown as Db)));
  }

  /** Issued certificates commit in groups (group-commit.ts): each statement pipelined in one transaction. */
  private readonly issuedGroups = new GroupCommit<SQL, unknown>({
    group: (statements) => this.db.transaction((tx) => Promise.all(statements.map((s) => tx.execute(s)))),
    alone: (statement) => this.db.execute(statement),
    retryAlone: (err) => sqlState(err) === '40P01', // deadlock_detected
  });

  issuedGroupStats(): { writes: number; groups: number; largest: number } {
    return { ...this.issuedGroups.stats };
  }

  override async insertIssuedCertificate(
    cert: NewCertificate,
    audit: Omit<AuditEntry, 'target'>,
    options: IssuedCertificateOptions = {},
  ): Promise<CertificateRecord | null> {
    const write = issuedCertificateWrite(cert, audit, options);
    return write.finish(await this.issuedGroups.write(write.statement));
  }

  /** A cursor lives in a transaction: outside one the pool may run each FETCH on another connection. */
  override revokedEntryPages(): Promise<PackedRevokedEntries> {
    return Promise.reject(new Error('revokedEntryPages reads through a cursor: call it inside store.transaction'));
  }

  /**
   * Outside a transaction no cursor can stay open (a pool may run each statement on another
   * connection): keyset pages in serial order instead. The CRL publisher reads inside one.
   */
  async *revokedEntries(issuerId: string, expiredBefore: Date): AsyncIterable<RevokedRow> {
    yield* revokedChildCas(this.db, issuerId);
    let after = '';
    for (;;) {
      const page = await this.db
        .select({ serial: certificates.serial, revokedAt: certificates.revokedAt, reason: certificates.revocationReason })
        .from(certificates)
        .where(
          and(
            eq(certificates.issuerId, issuerId),
            sql`${certificates.status} = 'revoked'`,
            sql`${certificates.serial} > ${after}`,
            // gt() maps the Date through the column; a raw sql`` parameter reaches postgres.js as a Date and fails
            gt(certificates.notAfter, expiredBefore),
          ),
        )
        .orderBy(certificates.serial)
        .limit(CRL_PAGE);
      for (const r of page)
        yield { serialHex: r.serial, revokedAt: r.revokedAt!, reason: revocationReasonFromColumn(r.reason ?? 'unspecified') };
      if (page.length < CRL_PAGE) return;
      after = page[page.length - 1].serial;
    }
  }

  onRevocation(subscriber: RevocationSubscriber): Promise<void> {
    return this.hooks.listen(REVOCATION_CHANNEL, subscriber);
  }

  async confirmRevocationNotices(): Promise<NoticeConfirmation> {
    return (await this.hooks.confirmNotices?.()) ?? { processes: 1, confirmed: 1 };
  }

  withStartupLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.hooks.startupLock(fn);
  }

  close(): Promise<void> {
    return this.hooks.close();
  }
}
