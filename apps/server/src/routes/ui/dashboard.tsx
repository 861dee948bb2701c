/** @jsxImportSource hono/jsx */
/** The console's pages for the dashboard: issuers and CRL freshness, counts, expiring certificates, recent activity. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function dashboardPages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
