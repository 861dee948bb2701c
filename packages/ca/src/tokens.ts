/** API tokens: how they are made, stored (as hashes), scoped, limited and checked, and which scope each API route needs. */
import { createHash, randomBytes } from 'node:crypto';
import { audit, type Actor } from './audit.ts';
import { invalid, notFound } from './errors.ts';
import { checkRateLimit } from './rate-limit.ts';
import type { StoreTx, TokenRecord } from './store.ts';
import { checkTokenLimits, type TokenLimits } from './token-limits.ts';

/** API tokens are stored as SHA-256 hashes; the token carries 256 bits of entropy, so no salt or KDF is needed. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function generateToken(): string {
  return `anvil_${randomBytes(32).toString('base64url')}`;
}

export const ADMIN_SCOPES = ['admin'];

/**
 * The scopes a token may be given. `admin` carries every other one. `revoke` (an older name of
 * `certificates:revoke`) and `audit` (reading the audit trail) are the names routes checked
 * before scoped tokens, still accepted.
 */
export const TOKEN_SCOPES = [
  'certificates:issue',
  'certificates:revoke',
  'certificates:read',
  'judge',
  'admin',
  'revoke',
  'audit',
] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** Older scope names and the scope each one carries. */
const SCOPE_ALIASES: Partial<Record<TokenScope, TokenScope>> = { revoke: 'certificates:revoke' };

/**
 * The one table of which scope each route of /api/v1 needs (routes use it through `ROUTE_SCOPES[...]`).
 * Reading profiles and issuers needs only a valid token.
 */
export const ROUTE_SCOPES = {
  'POST /certificates': 'certificates:issue',
  'GET /certificates': 'certificates:read',
  'GET /certificates/{id}': 'certificates:read',
  'GET /certificates/{id}/{download}': 'certificates:read',
  'POST /certificates/{id}/revoke': 'certificates:revoke',
  'POST /certificates/{id}/release': 'certificates:revoke',
  'POST /certificates/revoke': 'certificates:revoke',
  'POST /issuers/{name}/revoke': 'admin',
  'POST /issuers/{name}/rotate': 'admin',
  'POST /issuers/{name}/retire': 'admin',
  'POST /issuers/{name}/cross-certificates': 'admin',
  'POST /issuers/backup': 'admin',
  'POST /issuers/import': 'admin',
  'POST /issuers/csr': 'admin',
  'POST /issuers/{name}/certificate': 'admin',
  'POST|PUT /issuers': 'admin',
  'POST|PUT /profiles': 'admin',
  'GET /audit': 'audit',
  'POST /judge': 'judge',
  '* /tokens': 'admin',
  '* /invitations': 'admin',
  '* /acme/eab': 'admin',
} as const satisfies Record<string, TokenScope>;

/** Whether a token with `scopes` may use a route needing `needed` (admin carries everything). */
export function hasScope(scopes: readonly string[], needed: TokenScope): boolean {
  return scopes.some((s) => s === 'admin' || s === needed || SCOPE_ALIASES[s as TokenScope] === needed);
}

/** Whether a token is a partner token: its reads and revocations cover only the certificates it issued. */
export function isPartnerToken(token: Pick<TokenRecord, 'limits' | 'scopes'>): boolean {
  return token.limits !== null && !token.scopes.includes('admin');
}

/** The token's row when it is known, not revoked and not expired, else null; records its use at most once a minute. */
export async function authenticate(
  store: Pick<StoreTx, 'findTokenByHash' | 'touchToken'>,
  token: string,
  now: Date = new Date(),
): Promise<TokenRecord | null> {
  const row = await store.findTokenByHash(hashToken(token));
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now.getTime())) return null;
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_INTERVAL_MS) {
    // Best effort: a failure to note the use must not refuse the request.
    await store.touchToken(row.id, now, LAST_USED_INTERVAL_MS).catch(() => {});
  }
  return row;
}

/** last_used_at is written at most this often per token (the store's conditional update decides, across processes). */
export const LAST_USED_INTERVAL_MS = 60_000;

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

/** What POST /api/v1/tokens asks for. */
export interface ScopedTokenParams extends TokenLimits {
  name: string;
  scopes: string[];
  expiresAt?: string | Date;
  /** Certificates per minute (rate-limit.ts); absent: the configured default. */
  rateLimit?: number;
}

/**
 * Checks a scoped token's parameters (422 with a stable code; nothing stored on a refusal):
 * name, scopes, limits (profiles must exist: `profileExists`), expiry in the future, rate limit.
 * An admin token takes no limits but may take a rate limit (without one it is never limited).
 */
export async function checkScopedToken(
  params: ScopedTokenParams,
  now: Date,
  profileExists: (name: string) => Promise<boolean>,
): Promise<{ name: string; scopes: TokenScope[]; limits: TokenLimits | null; rateLimit: number | null; expiresAt: Date | null }> {
  if (typeof params.name !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,99}$/.test(params.name) || params.name.endsWith(' ')) {
    throw invalid('invalid_token_name', 'name is 1 to 100 printable ASCII characters');
  }
  if (!Array.isArray(params.scopes) || params.scopes.length === 0) throw invalid('invalid_scope', 'scopes is a non-empty list');
  for (const s of params.scopes) {
    if (!(TOKEN_SCOPES as readonly string[]).includes(s)) {
      throw invalid('invalid_scope', `"${String(s).slice(0, 64)}" is not a scope (${TOKEN_SCOPES.join(', ')})`);
    }
  }
  const scopes = [...new Set(params.scopes)] as TokenScope[];
  const given = params.profiles !== undefined || params.sanPatterns !== undefined || params.subject !== undefined;
  if (given && scopes.includes('admin')) throw invalid('invalid_token_limits', 'an admin token carries everything: it takes no limits');
  const limits = given ? checkTokenLimits({ profiles: params.profiles, sanPatterns: params.sanPatterns, subject: params.subject }) : null;
  for (const p of limits?.profiles ?? []) {
    if (!(await profileExists(p))) throw invalid('unknown_profile', `there is no profile "${p.slice(0, 64)}"`, { profile: p });
  }
  let expiresAt: Date | null = null;
  if (params.expiresAt !== undefined) {
    expiresAt = new Date(params.expiresAt);
    if (Number.isNaN(expiresAt.getTime())) throw invalid('invalid_expiry', 'expiresAt is an RFC 3339 date-time');
    if (expiresAt.getTime() <= now.getTime()) throw invalid('expiry_in_past', 'expiresAt must be in the future');
  }
  const rateLimit = params.rateLimit === undefined ? null : checkRateLimit(params.rateLimit);
  return { name: params.name, scopes, limits, rateLimit, expiresAt };
}

/** Records a checked scoped token and its audit row in the caller's transaction; the token is returned once. */
export async function createScopedToken(
  tx: StoreTx,
  params: Awaited<ReturnType<typeof checkScopedToken>>,
  actor: Actor,
): Promise<{ id: string; token: string }> {
  const token = generateToken();
  const row = await tx.insertToken({ ...params, tokenHash: hashToken(token) });
  await tx.appendAudit({
    ...audit(actor),
    action: 'token.create',
    target: row.id,
    outcome: 'success',
    details: {
      name: params.name,
      scopes: params.scopes,
      limits: params.limits,
      rateLimit: params.rateLimit,
      expiresAt: params.expiresAt?.toISOString() ?? null,
    },
  });
  return { id: row.id, token };
}

/** Revokes a token with its audit row (only when this call revoked it); 404 token_not_found. */
export async function revokeToken(tx: StoreTx, id: string, at: Date, actor: Actor): Promise<TokenRecord> {
  const existing = await tx.getToken(id);
  if (!existing) throw notFound('token_not_found', `there is no token ${id}`);
  if (existing.revokedAt) return existing;
  const row = await tx.revokeToken(id, at);
  if (!row) return (await tx.getToken(id))!; // a concurrent call revoked it (and audited that)
  await tx.appendAudit({ ...audit(actor), action: 'token.revoke', target: id, outcome: 'success', details: { name: row.name } });
  return row;
}
