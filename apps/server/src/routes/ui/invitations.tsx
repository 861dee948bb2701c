/** @jsxImportSource hono/jsx */
/** The console's enrollment invitations (admins and operators): the list, inviting (the URL shown once, on the answer) and withdrawing. */
import { isIP } from 'node:net';
import { Hono } from 'hono';
import { CaError, invitationStatus, userActor, type InvitationParams, type InvitationRecord, type InvitationStatus } from '@anvil/ca';
import { emptySans, type Sans } from '@anvil/pki';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import {
  binder,
  DataTable,
  Field,
  FormError,
  Notice,
  sansText,
  Select,
  TextArea,
  Time,
  type FieldErrors,
} from '../../views/components.tsx';
import { Csrf } from '../../views/layout.tsx';
import { enrollmentUrl } from '../api/invitations.ts';
import type { UiDeps } from './index.ts';
import { forbiddenPage, formText, notFoundPage, page, type UiContext } from './render.tsx';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const DONE: Record<string, string> = { withdrawn: 'The invitation was withdrawn: its link now says so and issues nothing.' };

interface InvitationDraft {
  name: string;
  profile: string;
  subjectO: string;
  names: string;
  sanPatterns: string;
  ttl: string;
  expiresAt: string;
}

const EMPTY_DRAFT: InvitationDraft = { name: '', profile: 'client', subjectO: '', names: '', sanPatterns: '', ttl: '', expiresAt: '' };

function StatusWord(props: { status: InvitationStatus }) {
  const kind = props.status === 'pending' ? 'ok' : props.status === 'used' ? 'plain' : 'bad';
  return <span class={`badge ${kind}`}>{props.status}</span>;
}

function namesText(i: InvitationRecord): string {
  return i.sans ? sansText(i.sans) : `CSR names under ${(i.limits.sanPatterns ?? []).join(', ')}`;
}

function InvitationsPage(props: {
  invitations: InvitationRecord[];
  profiles: string[];
  now: Date;
  csrf: string;
  notice?: string;
  message?: string;
  errors?: FieldErrors;
  draft?: InvitationDraft;
}) {
  const draft = props.draft ?? EMPTY_DRAFT;
  const bind = binder(draft, props.errors);
  return (
    <>
      <h1>Invitations</h1>
      <p>An invitation is a link a partner opens, without an account, to get one certificate with the subject and names you fix here.</p>
      {props.notice ? <Notice kind="ok">{props.notice}</Notice> : null}
      <FormError message={props.message} />
      <DataTable label="Invitations" columns={['For', 'Profile', 'Names', 'Status', 'Created', 'Expires', 'Certificate', 'Actions']}>
        {props.invitations.map((i) => {
          const status = invitationStatus(i, props.now);
          return (
            <tr>
              <th scope="row">{i.name}</th>
              <td>{i.profile}</td>
              <td class="mono">{namesText(i)}</td>
              <td>
                <StatusWord status={status} />
              </td>
              <td>
                <Time at={i.createdAt} />
              </td>
              <td>
                <Time at={i.expiresAt} />
              </td>
              <td>{i.certificateId ? <a href={`/certificates/${i.certificateId}`}>open</a> : <span class="muted">none</span>}</td>
              <td>
                {status === 'pending' ? (
                  <form method="post" action={`/invitations/${encodeURIComponent(i.id)}/revoke`} class="inline">
                    <Csrf token={props.csrf} />
                    <button type="submit" class="danger">
                      Withdraw<span class="sr-only"> the invitation for {i.name}</span>
                    </button>
                  </form>
                ) : null}
              </td>
            </tr>
          );
        })}
      </DataTable>
      <section class="panel" aria-labelledby="new-invitation-h">
        <h2 id="new-invitation-h">New invitation</h2>
        <form method="post" action="/invitations" class="stack">
          <Csrf token={props.csrf} />
          <Field
            {...bind('name')}
            label="For"
            autocomplete="off"
            required
            help="Who it is for, shown to them (such as “Partner B payments”)."
          />
          <Select {...bind('profile')} label="Profile" options={props.profiles.map((p) => ({ value: p, label: p }))} />
          <Field
            {...bind('subjectO')}
            label="Fixed organisation (O)"
            autocomplete="off"
            help="The certificate carries this O whatever the CSR says. Empty: none."
          />
          <TextArea
            {...bind('names')}
            label="Names of the certificate"
            rows={3}
            help="One a line: a DNS name, an IP address, an email or a URI (spiffe://…). The CSR’s names are then ignored."
          />
          <TextArea
            {...bind('sanPatterns')}
            label="Or: patterns the CSR’s names must match"
            rows={3}
            help="One a line: “*.domain” (names under domain), “scheme://authority/path/*” (URIs under that prefix), or an exact name."
          />
          <Field
            {...bind('ttl')}
            label="Certificate lifetime"
            autocomplete="off"
            help="Such as 90d or 720h. Empty: the profile’s default."
          />
          <Field
            {...bind('expiresAt')}
            label="Invitation expires"
            type="date"
            help="Empty: in 7 days (30 at most). Refused from the start of this day (UTC)."
          />
          <div>
            <button type="submit">Create invitation</button>
          </div>
        </form>
      </section>
    </>
  );
}

/** The one page that shows an invitation's link: the answer to the form that made it. */
function InvitationOnce(props: { name: string; url: string; expiresAt: Date }) {
  return (
    <>
      <h1>Invitation created</h1>
      <Notice kind="warn">
        This link is shown once, now, and works once: only a hash of its secret is kept. Give it to {props.name} by a safe channel.
      </Notice>
      <div class="panel">
        <table class="kv">
          <tbody>
            <tr>
              <th scope="row">For</th>
              <td>{props.name}</td>
            </tr>
            <tr>
              <th scope="row">Link</th>
              <td>
                <code class="mono secret">{props.url}</code>
              </td>
            </tr>
            <tr>
              <th scope="row">Expires</th>
              <td>
                <Time at={props.expiresAt} relative />
              </td>
            </tr>
          </tbody>
        </table>
      </div>
      <p>
        <a href="/invitations">Back to invitations</a>
      </p>
    </>
  );
}

const lines = (text: string) =>
  text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);

/** Names typed one a line, each sorted by its shape (what checkNames then judges). */
function sansOf(text: string): Sans {
  const sans = emptySans();
  for (const name of lines(text)) {
    if (isIP(name)) sans.ip.push(name);
    else if (/^[a-z][a-z0-9+.-]*:/i.test(name)) sans.uri.push(name);
    else if (name.includes('@')) sans.email.push(name);
    else sans.dns.push(name);
  }
  return sans;
}

/** The form's values as the API's body (what is left empty is not sent). */
function paramsOf(d: InvitationDraft): InvitationParams {
  const params: InvitationParams = { name: d.name, profile: d.profile };
  if (d.subjectO) params.subject = { O: d.subjectO };
  if (lines(d.names).length) params.sans = sansOf(d.names);
  if (lines(d.sanPatterns).length) params.sanPatterns = lines(d.sanPatterns);
  if (d.ttl) params.ttl = d.ttl;
  if (d.expiresAt) params.expiresAt = /^\d{4}-\d{2}-\d{2}$/.test(d.expiresAt) ? `${d.expiresAt}T00:00:00Z` : d.expiresAt;
  return params;
}

/** The field of the form an authority refusal belongs beside. */
function fieldOf(err: CaError): keyof InvitationDraft {
  if (err.code === 'invalid_invitation_name') return 'name';
  if (err.code === 'unknown_profile' || err.code === 'invalid_profile') return 'profile';
  if (err.code.includes('pattern') || err.message.startsWith('sanPatterns')) return 'sanPatterns';
  if (err.code.includes('subject') || err.message.startsWith('subject')) return 'subjectO';
  if (err.code.includes('ttl')) return 'ttl';
  if (err.code.includes('expiry')) return 'expiresAt';
  return 'names';
}

export function invitationPages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();
  app.use(
    '*',
    requirePermission('issue', (c) => forbiddenPage(c, 'Your role may not invite partners.')),
  );
  const actor = (c: UiContext) => userActor(c.get('user'), c.get('clientAddress'));

  async function listPage(
    c: UiContext,
    extra: { notice?: string; message?: string; errors?: FieldErrors; draft?: InvitationDraft } = {},
    status: 200 | 403 | 422 = 200,
  ) {
    const [invitations, profiles] = await Promise.all([authority.listInvitations({ limit: 200 }), authority.listProfiles()]);
    const endEntity = profiles.filter((p) => ['client', 'server', 'peer'].includes(p.kind)).map((p) => p.name);
    return page(
      c,
      'Invitations',
      <InvitationsPage invitations={invitations} profiles={endEntity} now={authority.now()} csrf={c.get('csrf')} {...extra} />,
      { section: '/invitations', status },
    );
  }

  app.get('/', (c) => listPage(c, { notice: DONE[c.req.query('done') ?? ''] }));

  app.post('/', async (c) => {
    const draft: InvitationDraft = {
      name: formText(c, 'name').trim(),
      profile: formText(c, 'profile').trim(),
      subjectO: formText(c, 'subjectO').trim(),
      names: formText(c, 'names'),
      sanPatterns: formText(c, 'sanPatterns'),
      ttl: formText(c, 'ttl').trim(),
      expiresAt: formText(c, 'expiresAt').trim(),
    };
    try {
      const { invitation, secret } = await authority.createInvitation(paramsOf(draft), actor(c));
      c.get('log')?.info({ invitationId: invitation.id }, 'invitation created from the console');
      return page(
        c,
        'Invitation created',
        <InvitationOnce name={invitation.name} url={enrollmentUrl(deps.publicUrl, secret)} expiresAt={invitation.expiresAt} />,
        { section: '/invitations' },
      );
    } catch (err) {
      if (!(err instanceof CaError) || (err.kind !== 'invalid' && err.kind !== 'forbidden')) throw err;
      return listPage(c, { errors: { [fieldOf(err)]: `${err.message}.` }, message: 'No invitation was created.', draft }, 422);
    }
  });

  app.post('/:id/revoke', async (c) => {
    const id = c.req.param('id') ?? '';
    if (!UUID.test(id)) return notFoundPage(c, 'such invitation');
    try {
      await authority.revokeInvitation(id, actor(c));
    } catch (err) {
      if (err instanceof CaError && err.kind === 'not_found') return notFoundPage(c, 'such invitation');
      if (err instanceof CaError && err.kind === 'conflict') return listPage(c, { message: `${err.message}.` }, 422);
      throw err;
    }
    return c.redirect('/invitations?done=withdrawn', 303);
  });

  return app;
}
