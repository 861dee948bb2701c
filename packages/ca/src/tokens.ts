/** API tokens: how they are made, stored (as hashes) and checked. */
import { createHash, randomBytes } from 'node:crypto';
import { audit, type Actor } from './audit.ts';
import type { StoreTx, TokenRecord } from './store.ts';

/** API tokens are stored as SHA-256 hashes; the token carries 256 bits of entropy, so no salt or KDF is needed. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function generateToken(): string {
  return `anvil_${randomBytes(32).toString('base64url')}`;
}

export const ADMIN_SCOPES = ['admin'];

/** The token's row when it is known and not revoked, else null. */
export async function authenticate(store: Pick<StoreTx, 'findTokenByHash'>, token: string): Promise<TokenRecord | null> {
  const row = await store.findTokenByHash(hashToken(token));
  return row && !row.revokedAt ? row : null;
}

/**
 * Records a token (`token` when the caller chose it, else a generated one) with its audit row,
 * inside the caller's transaction. Returns the token: the only time it is seen in clear.
 */
export async function createToken(tx: StoreTx, params: { name: string; scopes: string[]; token?: string }, actor: Actor): Promise<string> {
  const token = params.token ?? generateToken();
  await tx.insertToken({ name: params.name, tokenHash: hashToken(token), scopes: params.scopes });
  await tx.appendAudit({ ...audit(actor), action: 'token.create', target: params.name, outcome: 'success' });
  return token;
}
