/** @jsxImportSource hono/jsx */
/**
 * The console's ACME External Account Binding credentials (admins and operators, as tokens): the
 * list, creating one (its HMAC key shown once, on the answer) and revoking. What the values mean is
 * the authority's (packages/ca/src/acme/eab.ts, with a scoped token's checks and codes).
 */
import { Hono } from 'hono';
import { CaError, userActor, type EabCreateParams, type EabCredentialInfo } from '@anvil/ca';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import { DataTable, Field, FormError, Notice, TextArea, Time, type FieldErrors } from '../../views/components.tsx';
import { Csrf } from '../../views/layout.tsx';
import { CheckGroup } from '../../views/profile-parts.tsx';
import type { UiDeps } from './index.ts';
import { limitFieldOf, limitParamsOf } from './tokens.tsx';
import { forbiddenPage, formList, formText, notFoundPage, page, type UiContext } from './render.tsx';

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const DONE: Record<string, string> = { revoked: 'The credential was revoked: no new ACME account can bind it.' };

interface EabDraft {
  name: string;
  profiles: string[];
  sanPatterns: string;
  subjectO: string;
  expiresAt: string;
}

const EMPTY_DRAFT: EabDraft = { name: '', profiles: [], sanPatterns: '', subjectO: '', expiresAt: '' };

function StatusWord(props: { status: EabCredentialInfo['status'] }) {
  const kind = props.status === 'unused' || props.status === 'bound' ? 'ok' : props.status === 'revoked' ? 'bad' : 'plain';
  return <span class={`badge ${kind}`}>{props.status}</span>;
}

function limitsText(c: EabCredentialInfo): string {
  const parts = [`profiles: ${(c.limits.profiles ?? []).join(', ')}`];
  if (c.limits.sanPatterns) parts.push(`names: ${c.limits.sanPatterns.join(', ')}`);
  if (c.limits.subject)
    parts.push(
      `subject: ${Object.entries(c.limits.subject)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  return parts.join('; ');
}

function EabPage(props: {
  items: EabCredentialInfo[];
  profiles: string[];
  csrf: string;
  notice?: string;
  message?: string;
  errors?: FieldErrors;
  draft?: EabDraft;
}) {
  const draft = props.draft ?? EMPTY_DRAFT;
  return (
    <>
      <h1>ACME account bindings</h1>
      <p class="muted">
        External Account Binding credentials (RFC 8555 7.3.4): an ACME client (certbot, lego, cert-manager) creates its account with one,
        and then gets only the profiles and names the credential allows.
      </p>
      {props.notice ? <Notice kind="ok">{props.notice}</Notice> : null}
      <FormError message={props.message} />
      <DataTable label="EAB credentials" columns={['Name', 'Key id', 'Limits', 'Status', 'Created', 'Expires', 'Account', 'Actions']}>
        {props.items.map((c) => (
          <tr>
            <th scope="row">{c.name}</th>
            <td class="mono">{c.keyId}</td>
            <td>{limitsText(c)}</td>
            <td>
              <StatusWord status={c.status} />
            </td>
            <td>
              <Time at={c.createdAt} />
            </td>
            <td>{c.expiresAt ? <Time at={c.expiresAt} /> : <span class="muted">never</span>}</td>
            <td class="mono">{c.accountId ?? <span class="muted">none yet</span>}</td>
            <td>
              {c.status === 'revoked' ? null : (
                <form method="post" action={`/acme-eab/${encodeURIComponent(c.keyId)}/revoke`} class="inline">
                  <Csrf token={props.csrf} />
                  <button type="submit" class="danger">
                    Revoke<span class="sr-only"> credential {c.name}</span>
                  </button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </DataTable>
      <section class="panel" aria-labelledby="new-eab-h">
        <h2 id="new-eab-h">New credential</h2>
        <form method="post" action="/acme-eab" class="stack">
          <Csrf token={props.csrf} />
          <Field
            name="name"
            label="Name"
            value={draft.name}
            errors={props.errors}
            autocomplete="off"
            required
            help="Who or what it is for."
          />
          <CheckGroup
            name="profiles"
            legend="Profiles its account may issue under"
            options={props.profiles.map((p) => ({ value: p, label: p }))}
            values={draft.profiles}
            errors={props.errors}
            help="At least one."
          />
          <TextArea
            name="sanPatterns"
            label="SAN patterns"
            value={draft.sanPatterns}
            rows={4}
            errors={props.errors}
            help="One a line: “*.domain” (names under domain) or an exact name. Empty: any name the profile allows."
          />
          <Field
            name="subjectO"
            label="Fixed subject organisation (O)"
            value={draft.subjectO}
            errors={props.errors}
            autocomplete="off"
            help="Every certificate of the account carries this O. Empty: not fixed."
          />
          <Field
            name="expiresAt"
            label="Bind before"
            type="date"
            value={draft.expiresAt}
            errors={props.errors}
            help="Optional: the credential can no longer be bound from the start of this day (UTC)."
          />
          <div>
            <button type="submit">Create credential</button>
          </div>
        </form>
      </section>
    </>
  );
}

/** The one page that shows the HMAC key: the answer to the form that made it. */
function EabOnce(props: { name: string; keyId: string; hmacKey: string }) {
  return (
    <>
      <h1>Credential created</h1>
      <Notice kind="warn">
        The HMAC key is shown once, now, and never again. Give it to the ACME client's operator by a safe channel.
      </Notice>
      <div class="panel">
        <table class="kv">
          <tbody>
            <tr>
              <th scope="row">Name</th>
              <td class="mono">{props.name}</td>
            </tr>
            <tr>
              <th scope="row">Key id</th>
              <td>
                <code class="mono">{props.keyId}</code>
              </td>
            </tr>
            <tr>
              <th scope="row">HMAC key</th>
              <td>
                <code class="mono secret">{props.hmacKey}</code>
              </td>
            </tr>
          </tbody>
        </table>
      </div>
      <p>
        <a href="/acme-eab">Back to ACME account bindings</a>
      </p>
    </>
  );
}

/** The field of the form an authority refusal belongs beside (the limit fields as on the tokens page; else profiles). */
function fieldOf(err: CaError): keyof EabDraft {
  return limitFieldOf(err) ?? 'profiles';
}

/** The form's values as the API's body (what is left empty is not sent). */
function paramsOf(draft: EabDraft): EabCreateParams {
  return { name: draft.name, profiles: draft.profiles, ...limitParamsOf(draft) };
}

export function acmeEabPages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();
  // Whoever may make a scoped token may make a credential carrying the same limits.
  app.use(
    '*',
    requirePermission('tokens', (c) => forbiddenPage(c, 'Your role may not manage ACME account bindings.')),
  );
  const actor = (c: UiContext) => userActor(c.get('user'), c.get('clientAddress'));

  async function listPage(
    c: UiContext,
    extra: { notice?: string; message?: string; errors?: FieldErrors; draft?: EabDraft } = {},
    status: 200 | 422 = 200,
  ) {
    const [items, profiles] = await Promise.all([authority.acmeEab.list(), authority.listProfiles()]);
    return page(
      c,
      'ACME account bindings',
      <EabPage items={items} profiles={profiles.map((p) => p.name)} csrf={c.get('csrf')} {...extra} />,
      { section: '/acme-eab', status },
    );
  }

  app.get('/', (c) => listPage(c, { notice: DONE[c.req.query('done') ?? ''] }));

  app.post('/', async (c) => {
    const draft: EabDraft = {
      name: formText(c, 'name').trim(),
      profiles: formList(c, 'profiles'),
      sanPatterns: formText(c, 'sanPatterns'),
      subjectO: formText(c, 'subjectO').trim(),
      expiresAt: formText(c, 'expiresAt').trim(),
    };
    try {
      const created = await authority.acmeEab.create(paramsOf(draft), actor(c));
      return page(c, 'Credential created', <EabOnce name={draft.name} keyId={created.keyId} hmacKey={created.hmacKey} />, {
        section: '/acme-eab',
      });
    } catch (err) {
      if (!(err instanceof CaError) || err.kind !== 'invalid') throw err;
      return listPage(c, { errors: { [fieldOf(err)]: `${err.message}.` }, message: 'No credential was created.', draft }, 422);
    }
  });

  app.post('/:keyId/revoke', async (c) => {
    const keyId = c.req.param('keyId') ?? '';
    if (!KEY_ID.test(keyId)) return notFoundPage(c, 'such credential');
    try {
      await authority.acmeEab.revoke(keyId, actor(c));
    } catch (err) {
      if (err instanceof CaError && err.kind === 'not_found') return notFoundPage(c, 'such credential');
      throw err;
    }
    return c.redirect('/acme-eab?done=revoked', 303);
  });

  return app;
}
