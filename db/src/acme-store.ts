/** AcmeStoreTx (packages/ca/src/acme/store.ts) over drizzle: the tables of migration 0016. */
import { and, asc, count, desc, eq, gt, gte, inArray, lt, notExists, sql } from 'drizzle-orm';
import type {
  AcmeAccountRecord,
  AcmeAuthorizationRecord,
  AcmeChallengeRecord,
  AcmeIdentifier,
  AcmeOrderRecord,
  AcmeStoreTx,
  AcmeStoredProblem,
  NewAcmeOrder,
  TokenLimits,
} from '@anvil/ca';
import type { Db } from './store.ts';
import { acmeAccounts, acmeAuthorizations, acmeChallenges, acmeNonces, acmeOrders } from './schema.ts';

type AccountRow = typeof acmeAccounts.$inferSelect;
type OrderRow = typeof acmeOrders.$inferSelect;
type AuthorizationRow = typeof acmeAuthorizations.$inferSelect;
type ChallengeRow = typeof acmeChallenges.$inferSelect;

function toAccount(row: AccountRow): AcmeAccountRecord {
  return {
    id: row.id,
    profile: row.profile,
    jwk: row.jwk as JsonWebKey,
    thumbprint: row.thumbprint,
    status: row.status as AcmeAccountRecord['status'],
    contact: row.contact as string[],
    eabKeyId: row.eabKeyId,
    limits: (row.limits as TokenLimits | null) ?? null,
    createdAt: row.createdAt,
  };
}

function toOrder(row: OrderRow, authorizationIds: string[]): AcmeOrderRecord {
  return {
    id: row.id,
    accountId: row.accountId,
    profile: row.profile,
    identifiers: row.identifiers as AcmeIdentifier[],
    status: row.status as AcmeOrderRecord['status'],
    expires: row.expires,
    notBefore: row.notBefore,
    notAfter: row.notAfter,
    certificateId: row.certificateId,
    error: (row.error as AcmeStoredProblem | null) ?? null,
    createdAt: row.createdAt,
    authorizationIds,
  };
}

function toChallenge(row: ChallengeRow): AcmeChallengeRecord {
  return {
    id: row.id,
    authorizationId: row.authorizationId,
    type: row.type as AcmeChallengeRecord['type'],
    token: row.token,
    status: row.status as AcmeChallengeRecord['status'],
    validated: row.validated,
    error: (row.error as AcmeStoredProblem | null) ?? null,
  };
}

function toAuthorization(row: AuthorizationRow, challenges: ChallengeRow[]): AcmeAuthorizationRecord {
  return {
    id: row.id,
    orderId: row.orderId,
    accountId: row.accountId,
    identifier: row.identifier as AcmeIdentifier,
    wildcard: row.wildcard,
    status: row.status as AcmeAuthorizationRecord['status'],
    expires: row.expires,
    challenges: challenges.map(toChallenge),
  };
}

export class DrizzleAcmeStore implements AcmeStoreTx {
  constructor(private readonly db: Db) {}

  async insertNonce(nonce: string, expiresAt: Date): Promise<void> {
    await this.db.insert(acmeNonces).values({ nonce, expiresAt });
  }

  async consumeNonce(nonce: string, now: Date): Promise<boolean> {
    // One statement: of two requests replaying the same nonce, exactly one gets the row back.
    const rows = await this.db
      .delete(acmeNonces)
      .where(and(eq(acmeNonces.nonce, nonce), gt(acmeNonces.expiresAt, now)))
      .returning({ nonce: acmeNonces.nonce });
    return rows.length === 1;
  }

  async pruneNonces(before: Date): Promise<void> {
    await this.db.delete(acmeNonces).where(lt(acmeNonces.expiresAt, before));
  }

  async insertAccount(account: Omit<AcmeAccountRecord, 'id' | 'createdAt'> & { id?: string }): Promise<AcmeAccountRecord | null> {
    const [row] = await this.db.insert(acmeAccounts).values(account).onConflictDoNothing().returning();
    return row ? toAccount(row) : null;
  }

  async getAccount(id: string): Promise<AcmeAccountRecord | null> {
    const [row] = await this.db.select().from(acmeAccounts).where(eq(acmeAccounts.id, id));
    return row ? toAccount(row) : null;
  }

  async findAccountByThumbprint(profile: string, thumbprint: string): Promise<AcmeAccountRecord | null> {
    const [row] = await this.db
      .select()
      .from(acmeAccounts)
      .where(and(eq(acmeAccounts.profile, profile), eq(acmeAccounts.thumbprint, thumbprint)));
    return row ? toAccount(row) : null;
  }

  async updateAccount(id: string, patch: Partial<Pick<AcmeAccountRecord, 'status' | 'contact'>>): Promise<AcmeAccountRecord | null> {
    const [row] = await this.db.update(acmeAccounts).set(patch).where(eq(acmeAccounts.id, id)).returning();
    return row ? toAccount(row) : null;
  }

  async replaceAccountKey(id: string, jwk: JsonWebKey, thumbprint: string): Promise<AcmeAccountRecord | null> {
    const other = this.db
      .select({ id: acmeAccounts.id })
      .from(acmeAccounts)
      .where(
        and(
          sql`${acmeAccounts.profile} = (select a.profile from acme_accounts a where a.id = ${id})`,
          eq(acmeAccounts.thumbprint, thumbprint),
        ),
      );
    const [row] = await this.db
      .update(acmeAccounts)
      .set({ jwk, thumbprint })
      .where(and(eq(acmeAccounts.id, id), eq(acmeAccounts.status, 'valid'), notExists(other)))
      .returning();
    return row ? toAccount(row) : null;
  }

  async insertOrder(order: NewAcmeOrder): Promise<AcmeOrderRecord> {
    const [row] = await this.db
      .insert(acmeOrders)
      .values({
        accountId: order.accountId,
        profile: order.profile,
        identifiers: order.identifiers,
        status: 'pending',
        expires: order.expires,
        notBefore: order.notBefore,
        notAfter: order.notAfter,
      })
      .returning();
    const authorizationIds: string[] = [];
    for (const authz of order.authorizations) {
      const [a] = await this.db
        .insert(acmeAuthorizations)
        .values({
          orderId: row.id,
          accountId: order.accountId,
          identifier: authz.identifier,
          wildcard: authz.wildcard,
          status: 'pending',
          expires: authz.expires,
        })
        .returning({ id: acmeAuthorizations.id });
      await this.db
        .insert(acmeChallenges)
        .values(authz.challenges.map((c) => ({ authorizationId: a.id, type: c.type, token: c.token, status: 'pending' })));
      authorizationIds.push(a.id);
    }
    return toOrder(row, authorizationIds);
  }

  private async withAuthorizationIds(row: OrderRow | undefined): Promise<AcmeOrderRecord | null> {
    if (!row) return null;
    const ids = await this.db
      .select({ id: acmeAuthorizations.id })
      .from(acmeAuthorizations)
      .where(eq(acmeAuthorizations.orderId, row.id))
      .orderBy(asc(sql`${acmeAuthorizations.identifier}->>'value'`));
    return toOrder(
      row,
      ids.map((r) => r.id),
    );
  }

  async getOrder(id: string): Promise<AcmeOrderRecord | null> {
    const [row] = await this.db.select().from(acmeOrders).where(eq(acmeOrders.id, id));
    return this.withAuthorizationIds(row);
  }

  async updateOrder(
    id: string,
    from: readonly AcmeOrderRecord['status'][],
    patch: Partial<Pick<AcmeOrderRecord, 'status' | 'certificateId' | 'error'>>,
  ): Promise<AcmeOrderRecord | null> {
    const [row] = await this.db
      .update(acmeOrders)
      .set(patch)
      .where(and(eq(acmeOrders.id, id), inArray(acmeOrders.status, [...from])))
      .returning();
    return this.withAuthorizationIds(row);
  }

  async listOrderIds(accountId: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .select({ id: acmeOrders.id })
      .from(acmeOrders)
      .where(eq(acmeOrders.accountId, accountId))
      .orderBy(desc(acmeOrders.createdAt))
      .limit(limit);
    return rows.map((r) => r.id);
  }

  async findOrderByCertificate(certificateId: string): Promise<AcmeOrderRecord | null> {
    const [row] = await this.db.select().from(acmeOrders).where(eq(acmeOrders.certificateId, certificateId));
    return this.withAuthorizationIds(row);
  }

  async countOrdersSince(accountId: string, since: Date): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(acmeOrders)
      .where(and(eq(acmeOrders.accountId, accountId), gte(acmeOrders.createdAt, since)));
    return Number(row.n);
  }

  async countIssuedForName(profile: string, value: string, since: Date): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(acmeOrders)
      .where(
        and(
          eq(acmeOrders.profile, profile),
          eq(acmeOrders.status, 'valid'),
          gte(acmeOrders.createdAt, since),
          sql`${acmeOrders.identifiers} @> ${JSON.stringify([{ value }])}::jsonb`,
        ),
      );
    return Number(row.n);
  }

  private async withChallenges(rows: AuthorizationRow[]): Promise<AcmeAuthorizationRecord[]> {
    if (!rows.length) return [];
    const challenges = await this.db
      .select()
      .from(acmeChallenges)
      .where(
        inArray(
          acmeChallenges.authorizationId,
          rows.map((r) => r.id),
        ),
      )
      .orderBy(asc(acmeChallenges.type));
    return rows.map((r) =>
      toAuthorization(
        r,
        challenges.filter((c) => c.authorizationId === r.id),
      ),
    );
  }

  async getAuthorization(id: string): Promise<AcmeAuthorizationRecord | null> {
    const rows = await this.db.select().from(acmeAuthorizations).where(eq(acmeAuthorizations.id, id));
    return (await this.withChallenges(rows))[0] ?? null;
  }

  async listAuthorizations(orderId: string): Promise<AcmeAuthorizationRecord[]> {
    const rows = await this.db.select().from(acmeAuthorizations).where(eq(acmeAuthorizations.orderId, orderId));
    return this.withChallenges(rows);
  }

  async updateAuthorization(
    id: string,
    from: readonly AcmeAuthorizationRecord['status'][],
    status: AcmeAuthorizationRecord['status'],
  ): Promise<AcmeAuthorizationRecord | null> {
    const rows = await this.db
      .update(acmeAuthorizations)
      .set({ status })
      .where(and(eq(acmeAuthorizations.id, id), inArray(acmeAuthorizations.status, [...from])))
      .returning();
    return (await this.withChallenges(rows))[0] ?? null;
  }

  async getChallenge(id: string): Promise<AcmeChallengeRecord | null> {
    const [row] = await this.db.select().from(acmeChallenges).where(eq(acmeChallenges.id, id));
    return row ? toChallenge(row) : null;
  }

  async updateChallenge(
    id: string,
    from: readonly AcmeChallengeRecord['status'][],
    patch: Partial<Pick<AcmeChallengeRecord, 'status' | 'validated' | 'error'>>,
  ): Promise<AcmeChallengeRecord | null> {
    const [row] = await this.db
      .update(acmeChallenges)
      .set(patch)
      .where(and(eq(acmeChallenges.id, id), inArray(acmeChallenges.status, [...from])))
      .returning();
    return row ? toChallenge(row) : null;
  }
}
