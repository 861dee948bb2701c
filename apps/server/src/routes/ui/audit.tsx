/** @jsxImportSource hono/jsx */
/** The console's pages for the audit log: filters, newest first, keyset pages. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function auditPages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
