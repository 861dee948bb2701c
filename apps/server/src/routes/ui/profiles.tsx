/** @jsxImportSource hono/jsx */
/** The console's pages for profiles: every profile and its policy; create and edit with the API's validation. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function profilePages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
