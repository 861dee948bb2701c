/** What a request that fails its schema gets: 422 problem+json naming the fields. */
import type { Context } from 'hono';
import { problem } from './problem.ts';

/** zod failures become one 400 problem listing every field that is wrong. */
export function validationHook(
  result: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } },
  c: Context,
) {
  if (result.success) return;
  const errors = (result.error?.issues ?? []).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  return problem(c, 400, 'validation_failed', errors.map((e) => `${e.path || 'body'}: ${e.message}`).join('; '), { errors });
}
