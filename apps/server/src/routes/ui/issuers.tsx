/** @jsxImportSource hono/jsx */
/** The console's pages for issuers: details, chain, CRL state, downloads, re-sign the CRL. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function issuerPages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
