/** Scope checks of an API route (the token must carry the scope, or admin), and a partner token's certificate ownership. */
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { hasScope, notFound, type Authority, type CertificateRecord, type TokenScope } from '@anvil/ca';
import type { AppEnv } from '../env.ts';
import { problem } from '../problem.ts';

/** Authorize after authenticate: the token must carry `scope` (admin tokens carry everything); see ROUTE_SCOPES. */
export function requireScope(scope: TokenScope) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!hasScope(c.get('scopes') ?? [], scope)) {
      return problem(c, 403, 'forbidden', `this token lacks the "${scope}" scope`) as never;
    }
    await next();
  });
}

/**
 * A certificate the requesting token may see: every one for admin and unlimited tokens, only its
 * own for a partner token. Another's is 404 like an unknown id, so its existence is not confirmed.
 */
export async function visibleCertificate(c: Context<AppEnv>, authority: Authority, id: string): Promise<CertificateRecord> {
  const record = await authority.certificate(id);
  const owner = c.get('certificateOwner');
  if (owner && record.requestedBy !== owner) throw notFound('certificate_not_found', `no certificate with id ${id}`);
  return record;
}
