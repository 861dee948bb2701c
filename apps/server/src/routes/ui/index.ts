/**
 * The operator console (server-rendered with hono/jsx, no client framework), mounted at `/`:
 * the session and CSRF guard on every request, sign-in on the pages, then one sub-app per
 * area. Every page works without JavaScript; the stylesheet is a file of this origin.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Authority, JudgeService } from '@anvil/ca';
import { consoleSession, cookiePolicy, requireUser, type UiEnv } from '../../middleware/session.ts';
import { CONSOLE_STYLESHEET, CONSOLE_STYLESHEET_PATH } from '../../views/stylesheet.ts';
import { accountPages } from './account.tsx';
import { auditPages } from './audit.tsx';
import { certificatePages } from './certificates.tsx';
import { dashboardPages } from './dashboard.tsx';
import { invitationPages } from './invitations.tsx';
import { issuePages } from './issue.tsx';
import { issuerPages } from './issuers.tsx';
import { judgePages } from './judge.tsx';
import { profilePages } from './profiles.tsx';
import { revokePages } from './revoke.tsx';
import { tokenPages } from './tokens.tsx';
import { acmeEabPages } from './acme-eab.tsx';
import { userPages } from './users.tsx';
import { errorPage, forbiddenPage, notFoundPage } from './render.tsx';

export interface UiDeps {
  authority: Authority;
  judge: JudgeService;
  /** ANVIL_PUBLIC_URL: decides the cookie names and Secure (https). */
  publicUrl: string;
}

/** Pasted chains with CRLs on the judge page; everything else is a small form. */
const JUDGE_FORM_LIMIT = 16 * 1024 * 1024;
const FORM_LIMIT = 1024 * 1024;

/**
 * The console's top-level paths. Its middleware is registered on these (and below them) only:
 * the API, /pki, /ocsp, /verify and the probes, mounted beside it, never pass through it.
 */
export const CONSOLE_PATHS = [
  '/',
  '/sign-in',
  '/sign-out',
  '/account',
  '/certificates',
  '/issue',
  '/judge',
  '/issuers',
  '/profiles',
  '/users',
  '/tokens',
  '/acme-eab',
  '/invitations',
  '/audit',
  '/revoke',
];

/** Hono's `/x/*` matches `/x` itself too. */
const CONSOLE_PATTERNS = CONSOLE_PATHS.map((path) => (path === '/' ? '/' : `${path}/*`));

export function uiRoutes(deps: UiDeps) {
  const cookies = cookiePolicy(deps.publicUrl);
  const ui = new Hono<UiEnv>();

  ui.get(CONSOLE_STYLESHEET_PATH, (c) =>
    c.body(CONSOLE_STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' }),
  );

  const tooLarge = bodyLimit({ maxSize: FORM_LIMIT, onError: (c) => c.text('the form is too large', 413) });
  const judgeTooLarge = bodyLimit({ maxSize: JUDGE_FORM_LIMIT, onError: (c) => c.text('the form is too large (16 MiB at most)', 413) });
  const session = consoleSession({
    authority: deps.authority,
    cookies,
    refuse: (c) =>
      forbiddenPage(
        c,
        'The form did not carry this session’s security token (it may be from an older or another session). Reload the page and try again.',
      ),
  });
  const signedIn = requireUser();
  for (const pattern of CONSOLE_PATTERNS) {
    // Pages carry private data (and, once, generated keys): never cached.
    ui.use(pattern, async (c, next) => {
      await next();
      c.header('cache-control', 'no-store');
    });
    ui.use(pattern, (c, next) => (c.req.method !== 'POST' ? next() : c.req.path === '/judge' ? judgeTooLarge(c, next) : tooLarge(c, next)));
    ui.use(pattern, session);
  }

  ui.route('/', accountPages({ authority: deps.authority, cookies }));
  for (const pattern of CONSOLE_PATTERNS) {
    if (!/^\/(sign-in|sign-out)/.test(pattern)) ui.use(pattern, signedIn);
  }

  ui.route('/', dashboardPages(deps));
  ui.route('/certificates', certificatePages(deps));
  ui.route('/revoke', revokePages(deps));
  ui.route('/issue', issuePages(deps));
  ui.route('/judge', judgePages(deps));
  ui.route('/issuers', issuerPages(deps));
  ui.route('/profiles', profilePages(deps));
  ui.route('/users', userPages(deps));
  ui.route('/tokens', tokenPages(deps));
  ui.route('/acme-eab', acmeEabPages(deps));
  ui.route('/invitations', invitationPages(deps));
  ui.route('/audit', auditPages(deps));

  // Below a console path, an address no page answers is a page too (in the layout), not problem+json.
  for (const pattern of CONSOLE_PATTERNS) ui.all(pattern, (c) => notFoundPage(c));
  ui.onError(errorPage);
  return ui;
}
