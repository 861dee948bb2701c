/** @jsxImportSource hono/jsx */
/** The console's pages for issuing a certificate from a CSR or with a generated key; the key is shown once. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function issuePages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
