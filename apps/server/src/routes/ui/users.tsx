/** @jsxImportSource hono/jsx */
/**
 * The console's user administration (admins only): accounts with their role and status, creating
 * one, changing a role, resetting a password, disabling and enabling. A generated password is
 * shown once, on the answer to the form that made it, and never logged or stored in clear.
 */
import { Hono } from 'hono';
import { CaError, USER_ROLES, isUserRole, userActor, type UserRecord, type UserRole } from '@anvil/ca';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import { Field, FormError, Notice, Select, DataTable, Time, type FieldErrors } from '../../views/components.tsx';
import { Csrf } from '../../views/layout.tsx';
import type { UiDeps } from './index.ts';
import { forbiddenPage, formText, notFoundPage, page, type UiContext } from './render.tsx';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const ROLE_WORDS: Record<UserRole, string> = {
  admin: 'admin — everything, including users',
  operator: 'operator — issue, revoke, profiles, issuers',
  auditor: 'auditor — read and judge only',
};

const ROLE_OPTIONS = USER_ROLES.map((r) => ({ value: r, label: ROLE_WORDS[r] }));

const DONE: Record<string, string> = {
  role: 'The role was changed.',
  disabled: 'The account was disabled; its open sessions ended.',
  enabled: 'The account was enabled.',
};

function UserStatus(props: { user: UserRecord }) {
  const { user } = props;
  return (
    <>
      {user.disabledAt ? <span class="badge bad">disabled</span> : <span class="badge ok">enabled</span>}
      {user.mustChangePassword ? (
        <>
          {' '}
          <span class="badge warn">must change password</span>
        </>
      ) : null}
    </>
  );
}

function UserActions(props: { user: UserRecord; csrf: string; self: boolean }) {
  const { user, csrf } = props;
  const base = `/users/${encodeURIComponent(user.id)}`;
  return (
    <div class="user-actions">
      <form method="post" action={`${base}/role`} class="inline">
        <Csrf token={csrf} />
        <label for={`role-${user.id}`} class="sr-only">
          Role of {user.username}
        </label>
        <select id={`role-${user.id}`} name="role">
          {USER_ROLES.map((r) => (
            <option value={r} selected={r === user.role}>
              {r}
            </option>
          ))}
        </select>
        <button type="submit" class="secondary">
          Set role<span class="sr-only"> of {user.username}</span>
        </button>
      </form>
      <form method="post" action={`${base}/reset-password`} class="inline">
        <Csrf token={csrf} />
        <button type="submit" class="secondary">
          Reset password<span class="sr-only"> of {user.username}</span>
        </button>
      </form>
      {user.disabledAt ? (
        <form method="post" action={`${base}/enable`} class="inline">
          <Csrf token={csrf} />
          <button type="submit" class="secondary">
            Enable<span class="sr-only"> {user.username}</span>
          </button>
        </form>
      ) : props.self ? null : (
        <form method="post" action={`${base}/disable`} class="inline">
          <Csrf token={csrf} />
          <button type="submit" class="danger">
            Disable<span class="sr-only"> {user.username}</span>
          </button>
        </form>
      )}
    </div>
  );
}

function UsersPage(props: {
  users: UserRecord[];
  me: UserRecord;
  csrf: string;
  notice?: string;
  message?: string;
  errors?: FieldErrors;
  draft?: { username: string; role: string };
}) {
  return (
    <>
      <h1>Users</h1>
      {props.notice ? <Notice kind="ok">{props.notice}</Notice> : null}
      <FormError message={props.message} />
      <DataTable label="Console users" columns={['Username', 'Role', 'Status', 'Created', 'Actions']}>
        {props.users.map((u) => (
          <tr>
            <th scope="row">
              {u.username}
              {u.id === props.me.id ? <span class="muted"> (you)</span> : null}
            </th>
            <td>{u.role}</td>
            <td>
              <UserStatus user={u} />
            </td>
            <td>
              <Time at={u.createdAt} />
            </td>
            <td>
              <UserActions user={u} csrf={props.csrf} self={u.id === props.me.id} />
            </td>
          </tr>
        ))}
      </DataTable>
      <section class="panel" aria-labelledby="new-user-h">
        <h2 id="new-user-h">New user</h2>
        <form method="post" action="/users" class="stack">
          <Csrf token={props.csrf} />
          <Field
            name="username"
            label="Username"
            value={props.draft?.username}
            errors={props.errors}
            autocomplete="off"
            required
            help="Lower-case letters, digits, “.”, “_” or “-”. A password is generated and shown once; it must be changed at first sign-in."
          />
          <Select name="role" label="Role" options={ROLE_OPTIONS} value={props.draft?.role ?? 'operator'} errors={props.errors} />
          <div>
            <button type="submit">Create user</button>
          </div>
        </form>
      </section>
    </>
  );
}

/** The one page that shows a generated password: the answer to the form that made it (never a redirect, never cached). */
function PasswordOnce(props: { title: string; user: UserRecord; password: string; what: string }) {
  return (
    <>
      <h1>{props.title}</h1>
      <Notice kind="warn">
        This password is shown once, now. Give it to {props.user.username} by a safe channel; they must choose a new one when they sign in.
      </Notice>
      <div class="panel">
        <table class="kv">
          <tbody>
            <tr>
              <th scope="row">Username</th>
              <td class="mono">{props.user.username}</td>
            </tr>
            <tr>
              <th scope="row">Role</th>
              <td>{props.user.role}</td>
            </tr>
            <tr>
              <th scope="row">{props.what}</th>
              <td>
                <code class="mono secret">{props.password}</code>
              </td>
            </tr>
          </tbody>
        </table>
      </div>
      <p>
        <a href="/users">Back to users</a>
      </p>
    </>
  );
}

function refusalStatus(err: CaError) {
  return err.kind === 'conflict' ? 409 : 422;
}

export function userPages(deps: UiDeps) {
  const { users } = deps.authority;
  const app = new Hono<UiEnv>();
  app.use(
    '*',
    requirePermission('users', (c) => forbiddenPage(c, 'Only admins manage users.')),
  );

  const actor = (c: UiContext) => userActor(c.get('user'), c.get('clientAddress'));

  async function listPage(
    c: UiContext,
    extra: { notice?: string; message?: string; errors?: FieldErrors; draft?: { username: string; role: string } } = {},
    status: 200 | 403 | 409 | 422 = 200,
  ) {
    const all = await users.list();
    return page(c, 'Users', <UsersPage users={all} me={c.get('user')} csrf={c.get('csrf')} {...extra} />, { section: '/users', status });
  }

  /** A refusal of the authority (last admin, disabling oneself) as a message on the list page; anything else goes on. */
  async function refused(c: UiContext, err: unknown, what: string) {
    if (!(err instanceof CaError) || err.kind === 'unavailable' || err.kind === 'not_found') throw err;
    return listPage(c, { message: `${what}: ${err.message}.` }, refusalStatus(err));
  }

  const target = async (c: UiContext) => {
    const id = c.req.param('id') ?? '';
    return UUID.test(id) ? users.user(id) : null;
  };

  app.get('/', (c) => {
    const done = DONE[c.req.query('done') ?? ''];
    return listPage(c, { notice: done });
  });

  app.post('/', async (c) => {
    const username = formText(c, 'username').trim();
    const role = formText(c, 'role');
    const draft = { username, role };
    if (!isUserRole(role)) return listPage(c, { errors: { role: 'Choose a role.' }, message: 'No user was created.', draft }, 422);
    try {
      const created = await users.create({ username, role }, actor(c));
      return page(
        c,
        'User created',
        <PasswordOnce title="User created" user={created.user} password={created.password} what="Generated password" />,
        {
          section: '/users',
        },
      );
    } catch (err) {
      if (!(err instanceof CaError) || err.kind === 'unavailable') throw err;
      const field = err.code === 'invalid_role' ? 'role' : 'username';
      return listPage(c, { errors: { [field]: `${err.message}.` }, message: 'No user was created.', draft }, refusalStatus(err));
    }
  });

  app.post('/:id/role', async (c) => {
    const user = await target(c);
    if (!user) return notFoundPage(c, 'such user');
    const role = formText(c, 'role');
    if (!isUserRole(role)) return listPage(c, { message: 'The role was not changed: choose admin, operator or auditor.' }, 422);
    try {
      await users.setRole(user.id, role, actor(c));
    } catch (err) {
      return refused(c, err, `The role of ${user.username} was not changed`);
    }
    return c.redirect('/users?done=role', 303);
  });

  app.post('/:id/reset-password', async (c) => {
    const user = await target(c);
    if (!user) return notFoundPage(c, 'such user');
    let reset: Awaited<ReturnType<typeof users.resetPassword>>;
    try {
      reset = await users.resetPassword(user.id, actor(c));
    } catch (err) {
      return refused(c, err, `The password of ${user.username} was not reset`);
    }
    return page(
      c,
      'Password reset',
      <PasswordOnce title="Password reset" user={reset.user} password={reset.password} what="New generated password" />,
      { section: '/users' },
    );
  });

  app.post('/:id/disable', async (c) => {
    const user = await target(c);
    if (!user) return notFoundPage(c, 'such user');
    try {
      await users.disable(user.id, actor(c));
    } catch (err) {
      return refused(c, err, `${user.username} was not disabled`);
    }
    return c.redirect('/users?done=disabled', 303);
  });

  app.post('/:id/enable', async (c) => {
    const user = await target(c);
    if (!user) return notFoundPage(c, 'such user');
    try {
      await users.enable(user.id, actor(c));
    } catch (err) {
      return refused(c, err, `${user.username} was not enabled`);
    }
    return c.redirect('/users?done=enabled', 303);
  });

  return app;
}
