/** @jsxImportSource hono/jsx */
/** The console's pages for console users (admin only): create, role, reset password, disable. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function userPages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
