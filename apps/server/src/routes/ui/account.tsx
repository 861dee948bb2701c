/** @jsxImportSource hono/jsx */
/**
 * Signing in and out, and changing one's own password. The sign-in answer is the same for an
 * unknown account, a wrong password, a disabled account and a throttled one.
 */
import { Hono } from 'hono';
import { CaError, PASSWORD_MIN, type Authority } from '@anvil/ca';
import { clearSessionCookie, requireUser, setSessionCookie, type CookiePolicy, type UiEnv } from '../../middleware/session.ts';
import { Field, FormError, Notice, type FieldErrors } from '../../views/components.tsx';
import { Csrf } from '../../views/layout.tsx';
import { formText, page, type UiContext } from './render.tsx';

/** Only a path of this site (no scheme, no host, no `//`): where sign-in may send the user back to. */
function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])[^\s]*$/.test(next) && !next.startsWith('/sign-') ? next : '/';
}

function SignInForm(props: { csrf: string; username?: string; next: string; failed?: boolean; ended?: boolean }) {
  return (
    <div class="signin panel">
      <h1>Sign in to Anvil</h1>
      {props.ended ? <Notice kind="warn">Your session ended. Sign in again to continue.</Notice> : null}
      <FormError
        message={
          props.failed ? 'Sign-in failed: the username or password is wrong, or too many attempts were made. Try again later.' : undefined
        }
      />
      <form method="post" action="/sign-in" class="stack">
        <Csrf token={props.csrf} />
        <input type="hidden" name="next" value={props.next} />
        <Field name="username" label="Username" value={props.username} autocomplete="username" required />
        <Field name="password" label="Password" type="password" autocomplete="current-password" required />
        <div>
          <button type="submit">Sign in</button>
        </div>
      </form>
    </div>
  );
}

function PasswordForm(props: { csrf: string; forced: boolean; errors?: FieldErrors; message?: string }) {
  return (
    <>
      <h1>Change your password</h1>
      {props.forced ? (
        <Notice kind="warn">Choose a new password before you continue: the one you signed in with was generated.</Notice>
      ) : null}
      <FormError message={props.message} />
      <form method="post" action="/account/password" class="stack">
        <Csrf token={props.csrf} />
        <Field name="current" label="Current password" type="password" autocomplete="current-password" errors={props.errors} required />
        <Field
          name="next"
          label="New password"
          type="password"
          autocomplete="new-password"
          help={`At least ${PASSWORD_MIN} characters. A passphrase of several words is easiest.`}
          errors={props.errors}
          required
        />
        <Field name="confirm" label="New password again" type="password" autocomplete="new-password" errors={props.errors} required />
        <div>
          <button type="submit">Change password</button>
        </div>
      </form>
    </>
  );
}

export function accountPages(deps: { authority: Authority; cookies: CookiePolicy }) {
  const { authority, cookies } = deps;
  const app = new Hono<UiEnv>();

  app.get('/sign-in', (c) => {
    if (c.get('user')) return c.redirect(safeNext(c.req.query('next')), 303);
    const form = <SignInForm csrf={c.get('csrf')} next={safeNext(c.req.query('next'))} ended={c.req.query('ended') === '1'} />;
    return page(c, 'Sign in', form);
  });

  app.post('/sign-in', async (c) => {
    const username = formText(c, 'username');
    const next = safeNext(formText(c, 'next'));
    const signedIn = await authority.users.signIn({ username, password: formText(c, 'password'), source: c.get('clientAddress') });
    if (!signedIn) {
      return page(c, 'Sign in', <SignInForm csrf={c.get('csrf')} username={username} next={next} failed />, { status: 401 });
    }
    setSessionCookie(c, cookies, signedIn.token);
    return c.redirect(signedIn.user.mustChangePassword ? '/account/password' : next, 303);
  });

  app.post('/sign-out', async (c) => {
    const user = c.get('user');
    if (user) await authority.users.signOut(c.get('sessionToken'), user, c.get('clientAddress'));
    clearSessionCookie(c, cookies);
    return c.redirect('/sign-in', 303);
  });

  app.use('/account/*', requireUser());

  app.get('/account/password', (c) => {
    const done = c.req.query('done') === '1';
    return page(
      c,
      'Change password',
      <>
        {done ? <Notice kind="ok">Your password was changed. Your other sessions were signed out.</Notice> : null}
        <PasswordForm csrf={c.get('csrf')} forced={c.get('user').mustChangePassword} />
      </>,
    );
  });

  app.post('/account/password', async (c: UiContext) => {
    const user = c.get('user');
    const next = formText(c, 'next');
    const errors: FieldErrors = {};
    if (next !== formText(c, 'confirm')) errors.confirm = 'The two new passwords differ.';
    if (!errors.confirm) {
      try {
        await authority.users.changeOwnPassword({
          user,
          current: formText(c, 'current'),
          next,
          keepSession: c.get('sessionToken'),
          source: c.get('clientAddress'),
        });
        return c.redirect('/account/password?done=1', 303);
      } catch (err) {
        if (!(err instanceof CaError) || err.kind !== 'invalid') throw err;
        if (err.code === 'wrong_password') errors.current = err.message;
        else errors.next = err.message;
      }
    }
    const form = (
      <PasswordForm csrf={c.get('csrf')} forced={user.mustChangePassword} errors={errors} message="The password was not changed." />
    );
    return page(c, 'Change password', form, { status: 422 });
  });

  return app;
}
