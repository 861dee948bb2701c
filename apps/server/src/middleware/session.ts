/**
 * The operator console's session and CSRF guard: the session cookie (HttpOnly, SameSite=Strict,
 * `__Host-` and Secure behind https), the signed-in user on the context, and a CSRF token on
 * every form post (derived from the session's secret, or from a pre-session cookie on the
 * sign-in form), checked before any handler acts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { can, csrfTokenOf, type Authority, type Permission, type UserRecord } from '@anvil/ca';
import type { AppEnv } from '../env.ts';

export type UiEnv = {
  Variables: AppEnv['Variables'] & {
    /** The signed-in user (absent on the sign-in page). */
    user: UserRecord;
    /** The session cookie's value. */
    sessionToken: string;
    /** The CSRF token every form of this page carries. */
    csrf: string;
    /** The parsed body of a form post (urlencoded or multipart), read once by the CSRF check. */
    form: Record<string, string | File | (string | File)[]>;
    /** The request carried a session cookie whose session has ended (timed out, signed out elsewhere). */
    sessionEnded: boolean;
  };
};

export interface CookiePolicy {
  session: string;
  preSession: string;
  secure: boolean;
}

/** `__Host-` cookies must be Secure, Path=/ and carry no Domain: only behind https. */
export function cookiePolicy(publicUrl: string): CookiePolicy {
  const secure = publicUrl.startsWith('https:');
  return secure
    ? { session: '__Host-anvil_session', preSession: '__Host-anvil_pre', secure }
    : { session: 'anvil_session', preSession: 'anvil_pre', secure };
}

export function setSessionCookie(c: Context, policy: CookiePolicy, token: string) {
  setCookie(c, policy.session, token, { httpOnly: true, sameSite: 'Strict', secure: policy.secure, path: '/' });
  deleteCookie(c, policy.preSession, { path: '/', secure: policy.secure });
}

export function clearSessionCookie(c: Context, policy: CookiePolicy) {
  deleteCookie(c, policy.session, { path: '/', secure: policy.secure });
}

function sameToken(a: unknown, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Loads the session (when the cookie names an open one) and the CSRF token of the page; refuses
 * a form post whose `_csrf` field is missing or belongs to another session with 403, before the
 * handler runs. `refuse` renders the 403 page.
 */
export function consoleSession(deps: {
  authority: Authority;
  cookies: CookiePolicy;
  refuse: (c: Context<UiEnv>) => Response | Promise<Response>;
}): MiddlewareHandler<UiEnv> {
  const { authority, cookies } = deps;
  return createMiddleware<UiEnv>(async (c, next) => {
    const token = getCookie(c, cookies.session);
    const found = token ? await authority.users.session(token) : null;
    if (found && token) {
      c.set('user', found.user);
      c.set('sessionToken', token);
      c.set('csrf', csrfTokenOf(token));
    } else {
      if (token) {
        clearSessionCookie(c, cookies);
        c.set('sessionEnded', true);
      }
      // Signed out: the sign-in form's token comes from a pre-session cookie (login CSRF).
      let pre = getCookie(c, cookies.preSession);
      if (!pre || !/^[A-Za-z0-9_-]{43}$/.test(pre)) {
        pre = randomBytes(32).toString('base64url');
        setCookie(c, cookies.preSession, pre, { httpOnly: true, sameSite: 'Strict', secure: cookies.secure, path: '/' });
      }
      c.set('csrf', csrfTokenOf(pre));
    }
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody({ all: true }).catch(() => null);
      if (!form || !sameToken(form._csrf, c.get('csrf'))) return deps.refuse(c);
      c.set('form', form);
    } else if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      return deps.refuse(c);
    }
    await next();
  });
}

/**
 * Pages behind sign-in: a visitor without a session goes to the sign-in page (and back after);
 * a user who must change their password goes to that page first.
 */
export function requireUser(): MiddlewareHandler<UiEnv> {
  return createMiddleware<UiEnv>(async (c, next) => {
    const user = c.get('user');
    if (!user) {
      const back = c.req.method === 'GET' ? c.req.path + (new URL(c.req.url).search || '') : '/';
      return c.redirect(`/sign-in?next=${encodeURIComponent(back)}${c.get('sessionEnded') ? '&ended=1' : ''}`, 303);
    }
    if (user.mustChangePassword && c.req.path !== '/account/password' && c.req.path !== '/sign-out') {
      return c.redirect('/account/password', 303);
    }
    await next();
  });
}

/** 403 (rendered by `refuse`) unless the user's role grants `permission`. */
export function requirePermission(
  permission: Permission,
  refuse: (c: Context<UiEnv>) => Response | Promise<Response>,
): MiddlewareHandler<UiEnv> {
  return createMiddleware<UiEnv>(async (c, next) => {
    if (!can(c.get('user').role, permission)) return refuse(c);
    await next();
  });
}
