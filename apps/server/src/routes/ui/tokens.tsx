/** @jsxImportSource hono/jsx */
/**
 * The console's scoped API tokens (admins and operators): the list, creating one (its token shown
 * once, on the answer) and revoking. Only an admin makes or revokes a token with the admin scope.
 */
import { Hono } from 'hono';
import { CaError, can, userActor, type ScopedTokenParams, type TokenRecord } from '@anvil/ca';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import { DataTable, Field, FormError, Notice, TextArea, Time, type FieldErrors } from '../../views/components.tsx';
import { Csrf } from '../../views/layout.tsx';
import { CheckGroup } from '../../views/profile-parts.tsx';
import type { UiDeps } from './index.ts';
import { forbiddenPage, formList, formText, notFoundPage, page, type UiContext } from './render.tsx';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const SCOPE_OPTIONS = [
  { value: 'certificates:issue', label: 'certificates:issue — issue certificates' },
  { value: 'certificates:read', label: 'certificates:read — read certificates' },
  { value: 'certificates:revoke', label: 'certificates:revoke — revoke certificates' },
  { value: 'judge', label: 'judge — judge chains' },
  { value: 'admin', label: 'admin — everything (takes no limits)' },
];

const DONE: Record<string, string> = { revoked: 'The token was revoked; every process refuses it within 5 seconds.' };

interface TokenDraft {
  name: string;
  scopes: string[];
  profiles: string[];
  sanPatterns: string;
  subjectO: string;
  expiresAt: string;
  rateLimit: string;
}

const EMPTY_DRAFT: TokenDraft = { name: '', scopes: [], profiles: [], sanPatterns: '', subjectO: '', expiresAt: '', rateLimit: '' };

type TokenStatus = 'active' | 'revoked' | 'expired';

function statusOf(t: TokenRecord, now: Date): TokenStatus {
  return t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt <= now ? 'expired' : 'active';
}

function StatusWord(props: { status: TokenStatus }) {
  const kind = props.status === 'active' ? 'ok' : props.status === 'revoked' ? 'bad' : 'plain';
  return <span class={`badge ${kind}`}>{props.status}</span>;
}

/** A token's limits in words ("no limits" for none). */
function limitsText(t: TokenRecord): string {
  const l = t.limits;
  const rate = t.rateLimit === null ? [] : [`${t.rateLimit} certificates a minute`];
  if (!l) return rate[0] ?? 'no limits';
  const parts: string[] = [...rate];
  if (l.profiles) parts.push(`profiles: ${l.profiles.join(', ')}`);
  if (l.sanPatterns) parts.push(`names: ${l.sanPatterns.join(', ')}`);
  if (l.subject) {
    parts.push(
      `subject: ${Object.entries(l.subject)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  }
  return parts.length ? parts.join('; ') : 'no limits';
}

function TokensPage(props: {
  tokens: TokenRecord[];
  profiles: string[];
  /** Whether the user may make and revoke admin tokens (admins only). */
  admin: boolean;
  now: Date;
  csrf: string;
  notice?: string;
  message?: string;
  errors?: FieldErrors;
  draft?: TokenDraft;
}) {
  const draft = props.draft ?? EMPTY_DRAFT;
  return (
    <>
      <h1>API tokens</h1>
      {props.notice ? <Notice kind="ok">{props.notice}</Notice> : null}
      <FormError message={props.message} />
      <DataTable label="API tokens" columns={['Name', 'Scopes', 'Limits', 'Status', 'Created', 'Expires', 'Last used', 'Actions']}>
        {props.tokens.map((t) => {
          const status = statusOf(t, props.now);
          return (
            <tr>
              <th scope="row">{t.name}</th>
              <td>{t.scopes.join(', ')}</td>
              <td>{limitsText(t)}</td>
              <td>
                <StatusWord status={status} />
              </td>
              <td>
                <Time at={t.createdAt} />
              </td>
              <td>{t.expiresAt ? <Time at={t.expiresAt} /> : <span class="muted">never</span>}</td>
              <td>{t.lastUsedAt ? <Time at={t.lastUsedAt} /> : <span class="muted">never</span>}</td>
              <td>
                {status === 'revoked' || (!props.admin && t.scopes.includes('admin')) ? null : (
                  <form method="post" action={`/tokens/${encodeURIComponent(t.id)}/revoke`} class="inline">
                    <Csrf token={props.csrf} />
                    <button type="submit" class="danger">
                      Revoke<span class="sr-only"> token {t.name}</span>
                    </button>
                  </form>
                )}
              </td>
            </tr>
          );
        })}
      </DataTable>
      <section class="panel" aria-labelledby="new-token-h">
        <h2 id="new-token-h">New token</h2>
        <form method="post" action="/tokens" class="stack">
          <Csrf token={props.csrf} />
          <Field
            name="name"
            label="Name"
            value={draft.name}
            errors={props.errors}
            autocomplete="off"
            required
            help="1 to 100 printable ASCII characters, such as the partner's name."
          />
          <CheckGroup
            name="scopes"
            legend="Scopes"
            options={props.admin ? SCOPE_OPTIONS : SCOPE_OPTIONS.filter((o) => o.value !== 'admin')}
            values={draft.scopes}
            errors={props.errors}
          />
          <CheckGroup
            name="profiles"
            legend="Profiles it may issue under"
            options={props.profiles.map((p) => ({ value: p, label: p }))}
            values={draft.profiles}
            errors={props.errors}
            help="None checked: any profile."
          />
          <TextArea
            name="sanPatterns"
            label="SAN patterns"
            value={draft.sanPatterns}
            rows={4}
            errors={props.errors}
            help="One a line: “*.domain” (names under domain), “scheme://authority/path/*” (URIs under that prefix), or an exact DNS name, IP, email or URI. Empty: any name."
          />
          <Field
            name="subjectO"
            label="Fixed subject organisation (O)"
            value={draft.subjectO}
            errors={props.errors}
            autocomplete="off"
            help="Every certificate of the token carries this O. Empty: not fixed."
          />
          <Field
            name="expiresAt"
            label="Expires"
            type="date"
            value={draft.expiresAt}
            errors={props.errors}
            help="Optional: the token is refused from the start of this day (UTC)."
          />
          <Field
            name="rateLimit"
            label="Certificates per minute"
            value={draft.rateLimit}
            errors={props.errors}
            inputmode="numeric"
            autocomplete="off"
            help="Optional, 1 to 100000. Empty: the server's default (admin tokens: unlimited)."
          />
          <div>
            <button type="submit">Create token</button>
          </div>
        </form>
      </section>
    </>
  );
}

/** The one page that shows a token: the answer to the form that made it (never a redirect, never cached). */
function TokenOnce(props: { name: string; scopes: string[]; token: string }) {
  return (
    <>
      <h1>Token created</h1>
      <Notice kind="warn">
        This token is shown once, now, and never again: only its hash is kept. Copy it and give it to its holder by a safe channel.
      </Notice>
      <div class="panel">
        <table class="kv">
          <tbody>
            <tr>
              <th scope="row">Name</th>
              <td class="mono">{props.name}</td>
            </tr>
            <tr>
              <th scope="row">Scopes</th>
              <td>{props.scopes.join(', ')}</td>
            </tr>
            <tr>
              <th scope="row">Token</th>
              <td>
                <code class="mono secret">{props.token}</code>
              </td>
            </tr>
          </tbody>
        </table>
      </div>
      <p>
        <a href="/tokens">Back to tokens</a>
      </p>
    </>
  );
}

/** The limit fields a token's and an ACME credential's forms share (token-limits.ts): the one an authority refusal belongs beside, if any. */
export function limitFieldOf(err: CaError): 'name' | 'sanPatterns' | 'subjectO' | 'expiresAt' | null {
  switch (err.code) {
    case 'invalid_token_name':
      return 'name';
    case 'invalid_san_pattern':
      return 'sanPatterns';
    case 'invalid_token_subject':
      return 'subjectO';
    case 'invalid_expiry':
    case 'expiry_in_past':
      return 'expiresAt';
    default:
      if (err.message.startsWith('sanPatterns')) return 'sanPatterns';
      if (err.message.startsWith('subject')) return 'subjectO';
      return null;
  }
}

/** The shared limit fields as the API's body (what is left empty is not sent). */
export function limitParamsOf(draft: { sanPatterns: string; subjectO: string; expiresAt: string }): {
  sanPatterns?: string[];
  subject?: { O: string };
  expiresAt?: string;
} {
  const sanPatterns = draft.sanPatterns
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    ...(sanPatterns.length ? { sanPatterns } : {}),
    ...(draft.subjectO ? { subject: { O: draft.subjectO } } : {}),
    ...(draft.expiresAt
      ? { expiresAt: /^\d{4}-\d{2}-\d{2}$/.test(draft.expiresAt) ? `${draft.expiresAt}T00:00:00Z` : draft.expiresAt }
      : {}),
  };
}

/** The field of the form an authority refusal belongs beside. */
function fieldOf(err: CaError): keyof TokenDraft {
  switch (err.code) {
    case 'invalid_scope':
      return 'scopes';
    case 'unknown_profile':
      return 'profiles';
    case 'invalid_rate_limit':
      return 'rateLimit';
    default:
      return limitFieldOf(err) ?? (err.message.startsWith('profiles') ? 'profiles' : 'scopes');
  }
}

/** The form's values as the API's body (what is left empty is not sent). */
function paramsOf(draft: TokenDraft): ScopedTokenParams {
  const params: ScopedTokenParams = { name: draft.name, scopes: draft.scopes, ...limitParamsOf(draft) };
  if (draft.profiles.length) params.profiles = draft.profiles;
  // Not a whole number (NaN, 1.5) is the authority's invalid_rate_limit, beside the field.
  if (draft.rateLimit) params.rateLimit = /^\d+$/.test(draft.rateLimit) ? Number(draft.rateLimit) : Number.NaN;
  return params;
}

export function tokenPages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();
  app.use(
    '*',
    requirePermission('tokens', (c) => forbiddenPage(c, 'Your role may not manage API tokens.')),
  );

  const actor = (c: UiContext) => userActor(c.get('user'), c.get('clientAddress'));
  // An operator's token is a partner's: the admin scope (everything) stays with admins.
  const mayMakeAdminTokens = (c: UiContext) => can(c.get('user').role, 'users');

  async function listPage(
    c: UiContext,
    extra: { notice?: string; message?: string; errors?: FieldErrors; draft?: TokenDraft } = {},
    status: 200 | 422 = 200,
  ) {
    const [tokens, profiles] = await Promise.all([authority.listTokens(), authority.listProfiles()]);
    return page(
      c,
      'API tokens',
      <TokensPage
        tokens={tokens}
        profiles={profiles.map((p) => p.name)}
        admin={mayMakeAdminTokens(c)}
        now={authority.now()}
        csrf={c.get('csrf')}
        {...extra}
      />,
      { section: '/tokens', status },
    );
  }

  app.get('/', (c) => listPage(c, { notice: DONE[c.req.query('done') ?? ''] }));

  app.post('/', async (c) => {
    const draft: TokenDraft = {
      name: formText(c, 'name').trim(),
      scopes: formList(c, 'scopes'),
      profiles: formList(c, 'profiles'),
      sanPatterns: formText(c, 'sanPatterns'),
      subjectO: formText(c, 'subjectO').trim(),
      expiresAt: formText(c, 'expiresAt').trim(),
      rateLimit: formText(c, 'rateLimit').trim(),
    };
    if (draft.scopes.includes('admin') && !mayMakeAdminTokens(c))
      return forbiddenPage(c, 'Only an admin makes a token with the admin scope.');
    try {
      const params = paramsOf(draft);
      const created = await authority.createToken(params, actor(c));
      return page(c, 'Token created', <TokenOnce name={params.name} scopes={params.scopes} token={created.token} />, {
        section: '/tokens',
      });
    } catch (err) {
      if (!(err instanceof CaError) || err.kind !== 'invalid') throw err;
      return listPage(c, { errors: { [fieldOf(err)]: `${err.message}.` }, message: 'No token was created.', draft }, 422);
    }
  });

  app.post('/:id/revoke', async (c) => {
    const id = c.req.param('id') ?? '';
    if (!UUID.test(id)) return notFoundPage(c, 'such token');
    const target = await authority.token(id).catch(() => null);
    if (target?.scopes.includes('admin') && !mayMakeAdminTokens(c))
      return forbiddenPage(c, 'Only an admin revokes a token with the admin scope.');
    try {
      await authority.revokeToken(id, actor(c));
    } catch (err) {
      if (err instanceof CaError && err.kind === 'not_found') return notFoundPage(c, 'such token');
      throw err;
    }
    return c.redirect('/tokens?done=revoked', 303);
  });

  return app;
}
