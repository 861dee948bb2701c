/** @jsxImportSource hono/jsx */
/** The console's pages for the judge: a pasted or uploaded chain judged as nginx would. */
import { Hono } from 'hono';
import type { UiEnv } from '../../middleware/session.ts';
import type { UiDeps } from './index.ts';

export function judgePages(_deps: UiDeps) {
  const app = new Hono<UiEnv>();
  return app;
}
