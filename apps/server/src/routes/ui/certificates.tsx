/** @jsxImportSource hono/jsx */
/** The console's pages for the certificate list (search, filters, keyset pages) and each certificate's page. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function certificatePages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
