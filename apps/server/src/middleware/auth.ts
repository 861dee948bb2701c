/** Bearer-token authentication of the JSON API. */
import { createMiddleware } from 'hono/factory';
import type { Actor, Authority, TokenRecord } from '@anvil/ca';
import { hashToken } from '@anvil/ca';
import { problem } from '../problem.ts';
import type { AppEnv } from '../env.ts';

const CACHE_MS = 5_000;

/**
 * Bearer-token authentication. Lookups are cached for a few seconds per token hash so the
 * issuance hot path does not pay a database round trip per request; a revoked token stops
 * working within that window.
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
    let hit = cache.get(hash);
    if (!hit || hit.until < Date.now()) {
      hit = { token: await authority.authenticate(m[1]), until: Date.now() + CACHE_MS };
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, hit);
    }
    if (!hit.token) return problem(c, 401, 'invalid_token', 'the API token is unknown or revoked') as never;
    const actor: Actor = { id: hit.token.id, name: hit.token.name, source: c.get('clientAddress') ?? null };
    c.set('actor', actor);
    c.set('scopes', hit.token.scopes);
    await next();
  });
}
