/** ACME External Account Binding credentials (packages/ca/src/acme/eab.ts `AcmeEabStoreTx`) over drizzle. */
import type { AcmeEabStoreTx, EabCredentialRecord, TokenLimits } from '@anvil/ca';
import { and, desc, eq, gt, isNull, or } from 'drizzle-orm';
import { acmeEabCredentials } from './schema.ts';
import type { Db } from './store.ts';

type Row = typeof acmeEabCredentials.$inferSelect;

/** The one row mapping of the table. */
function toCredential(row: Row): EabCredentialRecord {
  return { ...row, limits: row.limits as TokenLimits };
}

/** A key id is 22 base64url characters; anything else cannot name a row (and never reaches SQL as a pattern). */
const plausibleKeyId = (keyId: string) => typeof keyId === 'string' && /^[A-Za-z0-9_-]{1,256}$/.test(keyId);

export class DrizzleAcmeEabStore implements AcmeEabStoreTx {
  constructor(private readonly db: Db) {}

  async insertEabCredential(c: Parameters<AcmeEabStoreTx['insertEabCredential']>[0]): Promise<EabCredentialRecord> {
    const [row] = await this.db.insert(acmeEabCredentials).values(c).returning();
    return toCredential(row);
  }

  async getEabCredential(keyId: string): Promise<EabCredentialRecord | null> {
    if (!plausibleKeyId(keyId)) return null;
    const [row] = await this.db.select().from(acmeEabCredentials).where(eq(acmeEabCredentials.keyId, keyId));
    return row ? toCredential(row) : null;
  }

  async listEabCredentials(): Promise<EabCredentialRecord[]> {
    const rows = await this.db
      .select()
      .from(acmeEabCredentials)
      .orderBy(desc(acmeEabCredentials.createdAt), desc(acmeEabCredentials.keyId));
    return rows.map(toCredential);
  }

  async bindEabCredential(keyId: string, accountId: string, at: Date): Promise<boolean> {
    const t = acmeEabCredentials;
    const rows = await this.db
      .update(t)
      .set({ boundAt: at, accountId })
      .where(and(eq(t.keyId, keyId), isNull(t.boundAt), isNull(t.revokedAt), or(isNull(t.expiresAt), gt(t.expiresAt, at))))
      .returning({ keyId: t.keyId });
    return rows.length === 1;
  }

  async revokeEabCredential(keyId: string, at: Date): Promise<EabCredentialRecord | null> {
    if (!plausibleKeyId(keyId)) return null;
    const t = acmeEabCredentials;
    const [row] = await this.db
      .update(t)
      .set({ revokedAt: at })
      .where(and(eq(t.keyId, keyId), isNull(t.revokedAt)))
      .returning();
    return row ? toCredential(row) : null;
  }
}
