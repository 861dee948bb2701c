/** @jsxImportSource hono/jsx */
/**
 * The console's page frame: skip link, top bar with the sections the user's role may open, the
 * sign-out form, and one <main>. Views receive data; they never read a store.
 */
import type { Child } from 'hono/jsx';
import { can, type UserRecord } from '@anvil/ca';
import { CONSOLE_STYLESHEET_PATH } from './stylesheet.ts';

export interface PageFrame {
  title: string;
  /** The signed-in user; absent on the sign-in page. */
  user?: UserRecord;
  csrf: string;
  /** The path of the section this page belongs to (marks it in the navigation). */
  section?: string;
}

const SECTIONS: Array<{ path: string; label: string; show: (u: UserRecord) => boolean }> = [
  { path: '/', label: 'Dashboard', show: () => true },
  { path: '/certificates', label: 'Certificates', show: () => true },
  { path: '/issue', label: 'Issue', show: (u) => can(u.role, 'issue') },
  { path: '/judge', label: 'Judge', show: (u) => can(u.role, 'judge') },
  { path: '/issuers', label: 'Issuers', show: () => true },
  { path: '/profiles', label: 'Profiles', show: () => true },
  { path: '/users', label: 'Users', show: (u) => can(u.role, 'users') },
  { path: '/tokens', label: 'Tokens', show: (u) => can(u.role, 'tokens') },
  { path: '/acme-eab', label: 'ACME', show: (u) => can(u.role, 'tokens') },
  { path: '/invitations', label: 'Invitations', show: (u) => can(u.role, 'issue') },
  { path: '/audit', label: 'Audit log', show: () => true },
];

/** The hidden field every form carries (middleware/session.ts checks it). */
export function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

export function Layout(props: PageFrame & { children?: Child }) {
  const { user } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} — Anvil`}</title>
        <link rel="stylesheet" href={CONSOLE_STYLESHEET_PATH} />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <div class="bar">
            <a class="brand" href="/">
              Anvil
            </a>
            {user ? (
              <nav aria-label="Sections">
                <ul>
                  {SECTIONS.filter((s) => s.show(user)).map((s) => (
                    <li>
                      <a href={s.path} aria-current={props.section === s.path ? 'page' : undefined}>
                        {s.label}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
            ) : null}
            {user ? (
              <div class="who">
                <a href="/account/password">
                  <span class="sr-only">Signed in as </span>
                  {user.username} ({user.role})
                </a>
                <form method="post" action="/sign-out">
                  <Csrf token={props.csrf} />
                  <button type="submit">Sign out</button>
                </form>
              </div>
            ) : null}
          </div>
        </header>
        <main id="main" tabindex={-1}>
          {props.children}
        </main>
      </body>
    </html>
  );
}
