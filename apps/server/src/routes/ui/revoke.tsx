/** @jsxImportSource hono/jsx */
/** The console's pages for revoking partner certificates: selection, reason, confirmation listing exactly what will be revoked, result with the CRL. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function revokePages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
