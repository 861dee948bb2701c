/**
 * Paths and query strings holding control characters (a NUL, CR LF, …) or bytes that are not
 * UTF-8 name nothing Anvil has: they are answered here, before any route hands them to the
 * database (PostgreSQL refuses a NUL in text, which would surface as a 500).
 */
import type { MiddlewareHandler } from 'hono';
import { problem } from '../problem.ts';

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function decodes(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null; // a malformed escape or a byte sequence that is not UTF-8
  }
}

export function rejectControlCharacters(): MiddlewareHandler {
  return async (c, next) => {
    const url = c.req.url;
    const q = url.indexOf('?');
    const pathStart = url.indexOf('/', url.indexOf('//') + 2);
    const path = decodes(url.slice(pathStart, q === -1 ? undefined : q));
    if (path === null || CONTROL.test(path))
      return problem(c, 404, 'not_found', 'no resource has a name with control characters or bytes that are not UTF-8');
    if (q !== -1) {
      const query = decodes(url.slice(q + 1).replace(/\+/g, ' '));
      if (query === null || CONTROL.test(query)) {
        return problem(c, 400, 'invalid_query', 'the query string holds control characters or bytes that are not UTF-8');
      }
    }
    return next();
  };
}
