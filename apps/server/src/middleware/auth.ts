/** Bearer-token authentication of the JSON API. */
import { createMiddleware } from 'hono/factory';
import type { Actor, Authority, TokenRecord } from '@anvil/ca';
import { hashToken, isPartnerToken } from '@anvil/ca';
import { problem } from '../problem.ts';
import type { AppEnv } from '../env.ts';

const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

/**
 * Bearer-token authentication. Lookups are cached for a few seconds per token hash so the
 * issuance hot path does not pay a database round trip per request; a revoked token stops
 * working within that window in every process (each re-reads the row after CACHE_MS). Expiry is
 * checked on every request, cached or not. The token itself is never logged.
 */
export function bearerAuth(authority: Authority) {
  const cache = new Map<string, { token: TokenRecord | null; until: number }>();
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) {
      return problem(c, 401, 'unauthorized', 'send an API token as "Authorization: Bearer <token>"', {}) as never;
    }
    const hash = hashToken(m[1]);
    const now = Date.now();
    let hit = cache.get(hash);
    if (!hit || hit.until < now) {
      hit = { token: await authority.authenticate(m[1]), until: now + CACHE_MS };
      if (cache.size >= CACHE_MAX) {
        // Bounded: expired entries go first, everything if that is not enough.
        for (const [k, v] of cache) if (v.until < now) cache.delete(k);
        if (cache.size >= CACHE_MAX) cache.clear();
      }
      cache.set(hash, hit);
    }
    const token = hit.token;
    if (!token || (token.expiresAt && token.expiresAt.getTime() <= authority.now().getTime())) {
      return problem(c, 401, 'invalid_token', 'the API token is unknown or revoked, or has expired') as never;
    }
    const actor: Actor = { id: token.id, name: token.name, source: c.get('clientAddress') ?? null };
    c.set('actor', actor);
    c.set('scopes', token.scopes);
    c.set('tokenLimits', token.limits);
    c.set('issueRateLimit', authority.issueRateLimit(token));
    c.set('certificateOwner', isPartnerToken(token) ? token.id : null);
    await next();
  });
}
