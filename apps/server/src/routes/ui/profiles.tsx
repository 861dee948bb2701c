/** @jsxImportSource hono/jsx */
/** The console's pages for profiles: every profile and its policy; create and edit with the API's validation. */
import { Hono } from 'hono';
import { CaError, can, parseTtl, userActor, type Profile, type ProfilePolicy } from '@anvil/ca';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import { Notice, DataTable, type FieldErrors } from '../../views/components.tsx';
import { EMPTY_PROFILE_FORM, formOfProfile, PolicyTable, ProfileFormView, ttlWords, type ProfileForm } from '../../views/profile-parts.tsx';
import { PolicySchema, ProfileSchema } from '../api/schemas.ts';
import type { UiDeps } from './index.ts';
import { forbiddenPage, formList, formText, page, type UiContext } from './render.tsx';

/** The API's request bodies (routes/api/profiles.ts): POST /profiles and PUT /profiles/{name}. */
const CreateBody = ProfileSchema.omit({ builtin: true }).strict();
const UpdateBody = ProfileSchema.pick({ kind: true, policy: true }).strict();

const POLICY_FIELDS = new Set(Object.keys(PolicySchema.shape));

function readForm(c: UiContext, name: string, kind: string): ProfileForm {
  return {
    name,
    kind,
    sanTypes: formList(c, 'sanTypes'),
    dnsSuffixes: formText(c, 'dnsSuffixes'),
    allowWildcards: formText(c, 'allowWildcards') !== '',
    ipCidrs: formText(c, 'ipCidrs'),
    uriPrefixes: formText(c, 'uriPrefixes'),
    emailDomains: formText(c, 'emailDomains'),
    keyAlgorithms: formList(c, 'keyAlgorithms'),
    minRsaBits: formText(c, 'minRsaBits'),
    defaultTtl: formText(c, 'defaultTtl'),
    maxTtl: formText(c, 'maxTtl'),
    issuer: formText(c, 'issuer'),
  };
}

const lines = (text: string): string[] | undefined => {
  const items = text
    .split(/[\r\n,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
};

/** A number field: whole numbers as numbers, anything else as typed (the schema refuses it), blank as absent (the default). */
const numberOrText = (text: string): number | string | undefined => {
  const t = text.trim();
  return t === '' ? undefined : /^\d{1,15}$/.test(t) ? Number(t) : t;
};

/** The form in the shape of the API's JSON request body. */
function requestOf(form: ProfileForm) {
  return {
    name: form.name,
    kind: form.kind,
    policy: {
      sanTypes: form.sanTypes,
      dnsSuffixes: lines(form.dnsSuffixes),
      allowWildcards: form.allowWildcards,
      ipCidrs: lines(form.ipCidrs),
      uriPrefixes: lines(form.uriPrefixes),
      emailDomains: lines(form.emailDomains),
      keyAlgorithms: form.keyAlgorithms,
      minRsaBits: numberOrText(form.minRsaBits),
      defaultTtl: numberOrText(form.defaultTtl),
      maxTtl: numberOrText(form.maxTtl),
      issuer: form.issuer || undefined,
    },
  };
}

const FRIENDLY: Record<string, string> = {
  kind: 'Choose server, client or peer.',
  sanTypes: 'Choose at least one SAN type.',
  keyAlgorithms: 'Choose at least one key algorithm.',
  minRsaBits: 'Write a whole number of bits from 2048 to 8192.',
  defaultTtl: 'Write a lifetime such as 90d, 720h or 30m, or a positive number of seconds.',
  maxTtl: 'Write a lifetime such as 397d, 720h or 30m, or a positive number of seconds.',
};

/** Checkbox groups: an entry outside the options is a tampered form, not a typing slip. */
const CHOICES = new Set(['sanTypes', 'keyAlgorithms']);

/** zod issues to the field each concerns (a list entry names its line). */
function zodErrors(issues: Array<{ path: PropertyKey[]; message: string; code?: string }>): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of issues) {
    const [head, sub, index] = issue.path.map(String);
    const field = head === 'policy' && sub && POLICY_FIELDS.has(sub) ? sub : head === 'name' || head === 'kind' ? head : 'form';
    const entry = index !== undefined && /^\d+$/.test(index);
    const message = CHOICES.has(field)
      ? entry
        ? 'Choose only from the options listed.'
        : FRIENDLY[field]
      : entry
        ? `Line ${Number(index) + 1}: ${issue.message}`
        : (FRIENDLY[field] ?? issue.message);
    errors[field] ??= message;
  }
  return errors;
}

/** The field a refusal of the authority concerns (checkPolicy, parseTtl, the catalog). */
function caErrorField(err: CaError): string {
  if (err.code === 'profile_exists' || err.code === 'unknown_profile') return 'name';
  if (err.code === 'profile_kind_change') return 'kind';
  if (err.code === 'unknown_issuer') return 'issuer';
  const m = err.message;
  if (/defaultTtl/.test(m)) return 'defaultTtl';
  if (/minRsaBits/.test(m)) return 'minRsaBits';
  if (/CIDR/.test(m)) return 'ipCidrs';
  if (/DNS suffix/.test(m)) return 'dnsSuffixes';
  if (/sanTypes/.test(m)) return 'sanTypes';
  return 'form';
}

type Outcome = { saved: Profile } | { errors: FieldErrors };

/** Validates as the API does (its zod schema, then parseTtl and the authority's own checks) and saves. */
async function validateAndSave(deps: UiDeps, c: UiContext, form: ProfileForm, mode: 'create' | 'update'): Promise<Outcome> {
  const body = requestOf(form);
  const parsed = mode === 'create' ? CreateBody.safeParse(body) : UpdateBody.safeParse({ kind: body.kind, policy: body.policy });
  if (!parsed.success) return { errors: zodErrors(parsed.error.issues) };
  const input = parsed.data.policy;
  const errors: FieldErrors = {};
  const ttl = (field: 'defaultTtl' | 'maxTtl') => {
    try {
      return parseTtl(input[field]);
    } catch (err) {
      if (!(err instanceof CaError)) throw err;
      errors[field] = `${err.message}.`;
      return 0;
    }
  };
  const policy: ProfilePolicy = { ...input, defaultTtl: ttl('defaultTtl'), maxTtl: ttl('maxTtl') };
  if (Object.keys(errors).length) return { errors };
  try {
    const saved = await deps.authority.saveProfile(
      { name: form.name, kind: parsed.data.kind, policy },
      mode,
      userActor(c.get('user'), c.get('clientAddress')),
    );
    return { saved };
  } catch (err) {
    if (!(err instanceof CaError) || err.kind === 'unavailable' || err.kind === 'forbidden') throw err;
    if (mode === 'update' && err.code === 'unknown_profile') throw err;
    return { errors: { [caErrorField(err)]: err.message } };
  }
}

function ProfileList(props: { profiles: Profile[]; canEdit: boolean; saved?: string }) {
  return (
    <>
      <h1>Profiles</h1>
      <p class="muted">A profile decides what a certificate carries and which names, keys and lifetimes a request may ask for.</p>
      {props.canEdit ? (
        <p class="actions">
          <a class="button" href="/profiles/new">
            New profile
          </a>
        </p>
      ) : null}
      <DataTable label="Profiles" columns={['Name', 'Kind', 'SAN types', 'Keys', 'Longest lifetime', 'Issuer']}>
        {props.profiles.map((p) => (
          <tr>
            <th scope="row">
              <a href={`/profiles/${encodeURIComponent(p.name)}`}>{p.name}</a>{' '}
              {p.builtin ? <span class="badge plain">built-in</span> : null}
            </th>
            <td>{p.kind}</td>
            <td>{p.policy.sanTypes.join(', ')}</td>
            <td>{p.policy.keyAlgorithms.join(', ')}</td>
            <td>{ttlWords(p.policy.maxTtl)}</td>
            <td>{p.policy.issuer ?? <span class="muted">default</span>}</td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}

function issuerNames(deps: UiDeps): string[] {
  return deps.authority.issuers().map((i) => i.record.name);
}

function formPage(c: UiContext, deps: UiDeps, mode: 'create' | 'update', form: ProfileForm, errors?: FieldErrors, builtin?: boolean) {
  const title = mode === 'create' ? 'New profile' : `Edit profile ${form.name}`;
  const failed = errors && Object.values(errors).some(Boolean);
  const message = failed ? (errors.form ?? 'The profile was not saved: see the message beside each field.') : undefined;
  return page(
    c,
    title,
    <>
      <p class="muted">
        <a href="/profiles">Profiles</a>
        {mode === 'update' ? (
          <>
            {' '}
            / <a href={`/profiles/${encodeURIComponent(form.name)}`}>{form.name}</a>
          </>
        ) : null}
      </p>
      <h1>{title}</h1>
      <ProfileFormView
        mode={mode}
        form={form}
        csrf={c.get('csrf')}
        issuers={issuerNames(deps)}
        errors={errors}
        message={message}
        builtin={builtin}
      />
    </>,
    { section: '/profiles', status: failed ? 422 : 200 },
  );
}

export function profilePages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();
  const mayEdit = requirePermission('profiles', (c) =>
    forbiddenPage(c, 'Your role may read profiles but not create or change them (operators and admins may).'),
  );

  app.get('/', async (c) => {
    const profiles = await authority.listProfiles();
    return page(c, 'Profiles', <ProfileList profiles={profiles} canEdit={can(c.get('user').role, 'profiles')} />, { section: '/profiles' });
  });

  app.get('/new', mayEdit, (c) => formPage(c, deps, 'create', EMPTY_PROFILE_FORM));

  app.post('/', mayEdit, async (c) => {
    const form = readForm(c, formText(c, 'name').trim(), formText(c, 'kind'));
    const outcome = await validateAndSave(deps, c, form, 'create');
    if ('errors' in outcome) return formPage(c, deps, 'create', form, outcome.errors);
    return c.redirect(`/profiles/${encodeURIComponent(outcome.saved.name)}?saved=created`, 303);
  });

  app.get('/:name', async (c) => {
    const profile = await authority.profile(c.req.param('name'));
    const saved = c.req.query('saved');
    const editable = can(c.get('user').role, 'profiles');
    return page(
      c,
      `Profile ${profile.name}`,
      <>
        <p class="muted">
          <a href="/profiles">Profiles</a>
        </p>
        <h1>Profile {profile.name}</h1>
        {saved === 'created' ? <Notice kind="ok">The profile was created.</Notice> : null}
        {saved === 'updated' ? <Notice kind="ok">The profile was saved; issuance follows it at once.</Notice> : null}
        <div class="panel">
          <PolicyTable profile={profile} />
        </div>
        {editable ? (
          <p class="actions">
            <a class="button" href={`/profiles/${encodeURIComponent(profile.name)}/edit`}>
              Edit this profile
            </a>
            {profile.builtin ? <span class="muted">A built-in profile may be narrowed; its kind stays.</span> : null}
          </p>
        ) : null}
        <p>
          <a href={`/certificates?profile=${encodeURIComponent(profile.name)}`}>Certificates of this profile</a> ·{' '}
          <a href={`/audit?${new URLSearchParams({ action: 'profile.', target: profile.name })}`}>Changes to this profile</a>
        </p>
      </>,
      { section: '/profiles' },
    );
  });

  app.get('/:name/edit', mayEdit, async (c) => {
    const profile = await authority.profile(c.req.param('name'));
    return formPage(c, deps, 'update', formOfProfile(profile), undefined, profile.builtin);
  });

  app.post('/:name', mayEdit, async (c) => {
    // The kind comes from the stored profile: a profile keeps its kind (the API refuses a change).
    const profile = await authority.profile(c.req.param('name'));
    const form = readForm(c, profile.name, profile.kind);
    const outcome = await validateAndSave(deps, c, form, 'update');
    if ('errors' in outcome) return formPage(c, deps, 'update', form, outcome.errors, profile.builtin);
    return c.redirect(`/profiles/${encodeURIComponent(profile.name)}?saved=updated`, 303);
  });

  return app;
}
