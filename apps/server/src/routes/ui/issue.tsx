/** @jsxImportSource hono/jsx */
/** The console's pages for issuing a certificate from a CSR or with a generated key; the key is shown once. */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import type { z } from '@hono/zod-openapi';
import { CaError, userActor, type Authority } from '@anvil/ca';
import { privateKeyPem } from '@anvil/pki';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import type { FieldErrors } from '../../views/components.tsx';
import { IssueForm, IssueResult, type DataDownload, type IssueFormValues } from '../../views/issue-pages.tsx';
import { checkBundleOptions, issuanceBundles } from '../api/bundles.ts';
import { IssueRequestSchema } from '../api/schemas.ts';
import { forbiddenPage, formText, formUploads, page, type UiContext } from './render.tsx';
import type { UiDeps } from './index.ts';

const NONCE = /^[A-Za-z0-9_-]{22,128}$/;
const newNonce = () => randomBytes(24).toString('base64url');

function emptyValues(): IssueFormValues {
  return {
    nonce: newNonce(),
    profile: 'server',
    keySource: 'generate',
    keyAlgorithm: 'EC-P256',
    csr: '',
    CN: '',
    O: '',
    dns: '',
    ip: '',
    uri: '',
    email: '',
    ttl: '',
    issuer: '',
    secretName: '',
    secretNamespace: '',
  };
}

/** A CSR is a few KiB; the API's `csr` field takes at most 64 KiB of text. */
const CSR_FILE_MAX = 48 * 1024;

/** The CSR as the `csr` field takes it: the paste, else the upload (PEM text, or DER as bare base64); null for an oversized upload. */
async function csrOf(c: UiContext): Promise<string | null> {
  const pasted = formText(c, 'csr').trim();
  if (pasted) return pasted;
  const [file] = formUploads(c, 'csrFile');
  if (!file) return '';
  if (file.size > CSR_FILE_MAX) return null;
  const bytes = Buffer.from(await file.arrayBuffer());
  const text = bytes.toString('latin1');
  return text.includes('-----BEGIN') ? text.trim() : bytes.toString('base64');
}

async function readForm(c: UiContext): Promise<IssueFormValues> {
  const t = (name: string) => formText(c, name).trim();
  return {
    nonce: t('nonce'),
    profile: t('profile'),
    keySource: t('keySource') === 'csr' ? 'csr' : 'generate',
    keyAlgorithm: t('keyAlgorithm'),
    csr: (await csrOf(c)) ?? '',
    CN: t('CN'),
    O: t('O'),
    dns: t('dns'),
    ip: t('ip'),
    uri: t('uri'),
    email: t('email'),
    ttl: t('ttl'),
    issuer: t('issuer'),
    secretName: t('secretName'),
    secretNamespace: t('secretNamespace'),
  };
}

const list = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** The form as the API's issuance request (the shape IssueRequestSchema validates). */
function requestOf(v: IssueFormValues, pkcs12Password: string): Record<string, unknown> {
  const sans = { dns: list(v.dns), ip: list(v.ip), uri: list(v.uri), email: list(v.email) };
  const anySan = Object.values(sans).some((l) => l.length > 0);
  const generate = v.keySource === 'generate';
  return {
    profile: v.profile,
    ...(generate ? { keyAlgorithm: v.keyAlgorithm || 'EC-P256' } : { csr: v.csr }),
    ...(v.CN || v.O ? { subject: { ...(v.CN ? { CN: v.CN } : {}), ...(v.O ? { O: v.O } : {}) } } : {}),
    ...(anySan ? { sans } : {}),
    // A bare number is days; anything else is the API's duration text ("720h", "90d").
    ...(v.ttl ? { ttl: /^\d+$/.test(v.ttl) ? `${v.ttl}d` : v.ttl } : {}),
    ...(v.issuer ? { issuer: v.issuer } : {}),
    ...(pkcs12Password ? { pkcs12Password } : {}),
    ...(generate
      ? {
          kubernetesSecret: {
            ...(v.secretName ? { name: v.secretName } : {}),
            ...(v.secretNamespace ? { namespace: v.secretNamespace } : {}),
          },
        }
      : {}),
  };
}

const FORM_FIELDS = new Set(['profile', 'csr', 'keyAlgorithm', 'ttl', 'issuer', 'pkcs12Password', 'CN', 'O', 'dns', 'ip', 'uri', 'email']);

/** The form field a schema issue concerns. */
function fieldOfIssue(path: readonly PropertyKey[]): string | undefined {
  const [first, second] = path.map(String);
  if (first === 'subject' || first === 'sans') return FORM_FIELDS.has(second) ? second : first === 'subject' ? 'CN' : 'dns';
  if (first === 'kubernetesSecret') return second === 'namespace' ? 'secretNamespace' : 'secretName';
  return FORM_FIELDS.has(first) ? first : undefined;
}

/** The form field a domain refusal concerns (its stable code, and for some the name it quotes). */
function fieldOfError(err: CaError, v: IssueFormValues): string | undefined {
  const keyField = v.keySource === 'csr' ? 'csr' : 'keyAlgorithm';
  const named = (err.details?.field as string | undefined) ?? '';
  switch (err.code) {
    case 'unknown_profile':
      return 'profile';
    case 'invalid_csr':
    case 'malformed_csr':
    case 'csr_signature_invalid':
    case 'csr_signature_algorithm':
    case 'csr_and_key_algorithm':
      return 'csr';
    case 'weak_key':
    case 'unsupported_key':
    case 'key_not_allowed':
      return keyField;
    case 'ttl_too_long':
    case 'invalid_ttl':
      return 'ttl';
    case 'issuer_not_allowed':
    case 'issuer_revoked':
    case 'unknown_issuer':
      return 'issuer';
    case 'pkcs12_password_required':
    case 'pkcs12_requires_generated_key':
      return 'pkcs12Password';
    case 'kubernetes_secret_requires_generated_key':
      return 'secretName';
    case 'cn_required':
    case 'cn_not_in_sans':
      return 'CN';
    case 'invalid_subject':
      return /\bO\b/.test(err.message) && !/\bCN\b/.test(err.message) ? 'O' : 'CN';
    case 'invalid_name': {
      const m = /^(?:subject\.(CN|O)|sans\.(dns|ip|uri|email))/.exec(named);
      return m ? (m[1] ?? m[2]) : 'CN';
    }
    case 'invalid_dns_name':
    case 'wildcard_not_allowed':
      return 'dns';
    case 'invalid_ip':
      return 'ip';
    case 'invalid_uri':
      return 'uri';
    case 'invalid_email':
      return 'email';
    case 'san_type_not_allowed':
      return (err.details?.sanType as string | undefined) ?? 'dns';
    case 'san_not_allowed': {
      // The message quotes the refused name: the field that holds it.
      for (const kind of ['dns', 'ip', 'uri', 'email'] as const) {
        if (list(v[kind]).some((n) => err.message.toLowerCase().includes(n.toLowerCase()))) return kind;
      }
      return v.keySource === 'csr' && !list(v.dns).length ? 'csr' : 'dns';
    }
    case 'san_required':
    case 'too_many_sans':
      return v.keySource === 'csr' && ![v.dns, v.ip, v.uri, v.email].some(Boolean) ? 'csr' : 'dns';
    default:
      return undefined;
  }
}

type Issued = Awaited<ReturnType<Authority['issue']>>;

function resultPage(c: UiContext, authority: Authority, issued: Issued, values: IssueFormValues, bundleOptions: BundleChoice) {
  const record = issued.record;
  const pems = authority.pemsOf(record);
  const base = (record.commonName ?? record.serial).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 64) || 'certificate';
  const key = issued.privateKeyPkcs8;
  const secretDownloads: DataDownload[] = [];
  let keyPem: string | undefined;
  if (key) {
    keyPem = privateKeyPem(key);
    const bundles = issuanceBundles(authority, issued, bundleOptions);
    secretDownloads.push({
      label: 'Private key (key.pem)',
      filename: `${base}.key.pem`,
      mediaType: 'application/x-pem-file',
      bytes: keyPem,
    });
    if (bundles.pkcs12) {
      secretDownloads.push({
        label: 'PKCS#12 (.p12)',
        filename: `${base}.p12`,
        mediaType: 'application/x-pkcs12',
        bytes: new Uint8Array(Buffer.from(bundles.pkcs12, 'base64')),
      });
    }
    if (bundles.kubernetesSecret) {
      secretDownloads.push({
        label: 'Kubernetes Secret (secret.yaml)',
        filename: `${base}-secret.yaml`,
        mediaType: 'application/yaml',
        bytes: bundles.kubernetesSecret,
      });
    }
  }
  const publicDownloads: DataDownload[] = [
    { label: 'Certificate (cert.pem)', filename: `${base}.cert.pem`, mediaType: 'application/x-pem-file', bytes: pems.certificate },
    { label: 'Full chain (fullchain.pem)', filename: `${base}.fullchain.pem`, mediaType: 'application/x-pem-file', bytes: pems.fullchain },
    { label: 'Intermediates (chain.pem)', filename: `${base}.chain.pem`, mediaType: 'application/x-pem-file', bytes: pems.chain },
  ];
  const body = (
    <IssueResult
      certificate={{
        id: record.id,
        subject: record.subject,
        serial: record.serial,
        issuer: issued.issuer.record.name,
        profile: record.profile,
        sans: record.sans,
        notBefore: record.notBefore,
        notAfter: record.notAfter,
        certificatePem: pems.certificate,
      }}
      privateKeyPem={keyPem}
      secretDownloads={secretDownloads}
      publicDownloads={publicDownloads}
      replay={issued.replayed ? { generatedKey: values.keySource === 'generate' } : undefined}
    />
  );
  return page(c, issued.replayed ? 'Certificate already issued' : 'Certificate issued', body, { section: '/issue' });
}

type BundleChoice = { pkcs12Password?: string; kubernetesSecret?: { name?: string; namespace?: string } };

export function issuePages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();
  app.use(
    '*',
    requirePermission('issue', (c) => forbiddenPage(c, 'Your role may not issue certificates.')),
  );

  const formPage = async (
    c: UiContext,
    values: IssueFormValues,
    status: 200 | 409 | 422,
    errors: FieldErrors = {},
    message?: string,
  ): Promise<Response> => {
    const profiles = await authority.listProfiles();
    const issuers = authority
      .issuers()
      .filter((i) => i.record.kind === 'intermediate' && i.record.status === 'active')
      .map((i) => ({ name: i.record.name, subject: i.record.subject }));
    const form = (
      <IssueForm
        csrf={c.get('csrf')}
        values={values}
        profiles={profiles.map((p) => ({ name: p.name, kind: p.kind }))}
        issuers={issuers}
        errors={errors}
        message={message}
      />
    );
    return page(c, 'Issue a certificate', form, { section: '/issue', status });
  };

  app.get('/', (c) => {
    const values = emptyValues();
    const asked = c.req.query('profile');
    if (asked && asked.length <= 64) values.profile = asked;
    return formPage(c, values, 200);
  });

  app.post('/', async (c) => {
    const values = await readForm(c);
    const pkcs12Password = formText(c, 'pkcs12Password');
    const refused = (errors: FieldErrors, message = 'Nothing was issued: correct the fields marked below.') =>
      formPage(c, values, 422, errors, message);

    if (!NONCE.test(values.nonce)) {
      values.nonce = newNonce();
      return refused({}, 'This form is incomplete (it carried no one-time token). Check the values and submit it again.');
    }
    if (values.keySource === 'csr' && !values.csr) {
      const oversized = (await csrOf(c)) === null;
      return refused({
        csr: oversized ? 'The uploaded file is larger than 48 KiB: it is not a CSR.' : 'Paste or upload a certificate signing request.',
      });
    }

    const parsed = IssueRequestSchema.safeParse(requestOf(values, pkcs12Password));
    if (!parsed.success) return refused(errorsOfIssues(parsed.error.issues));
    const { pkcs12Password: password, pkcs12Legacy: _legacy, kubernetesSecret, ...request } = parsed.data;
    const bundleOptions: BundleChoice = {
      pkcs12Password: password,
      kubernetesSecret: typeof kubernetesSecret === 'object' ? kubernetesSecret : undefined,
    };
    try {
      checkBundleOptions(request, bundleOptions);
      // The nonce is the Idempotency-Key: a resubmission (reload, back) replays, and a replay has no key.
      const issued = await authority.issue({ ...request, idempotencyKey: values.nonce }, userActor(c.get('user'), c.get('clientAddress')));
      c.get('log')?.info(
        { certificateId: issued.record.id, serial: issued.record.serial, profile: issued.record.profile, replayed: issued.replayed },
        'certificate issued from the console',
      );
      return resultPage(c, authority, issued, values, bundleOptions);
    } catch (err) {
      if (!(err instanceof CaError)) throw err;
      if (err.kind === 'conflict' && err.code === 'idempotency_key_reused') {
        values.nonce = newNonce();
        return formPage(
          c,
          values,
          409,
          {},
          'This form was already used to issue a certificate, and its values have changed since. Nothing was issued: check the values and submit again to issue another certificate.',
        );
      }
      if (err.kind !== 'invalid' && err.kind !== 'not_found') throw err;
      const field = fieldOfError(err, values);
      return refused(field ? { [field]: err.message } : {}, field ? undefined : `Nothing was issued: ${err.message}`);
    }
  });

  return app;
}

function errorsOfIssues(issues: z.ZodIssue[]): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of issues) {
    const field = fieldOfIssue(issue.path) ?? 'profile';
    errors[field] ??= issue.message;
  }
  return errors;
}
