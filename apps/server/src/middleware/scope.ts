/** Scope checks of an API route (the token must carry the scope or admin). */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env.ts';
import { problem } from '../problem.ts';

/** Authorize after authenticate: the token must carry `scope` (admin tokens carry everything). */
export function requireScope(scope: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const scopes = c.get('scopes') ?? [];
    if (!scopes.includes('admin') && !scopes.includes(scope)) {
      return problem(c, 403, 'forbidden', `this token lacks the "${scope}" scope`) as never;
    }
    await next();
  });
}
