/** @jsxImportSource hono/jsx */
/**
 * /enroll/{secret}: where a partner with an invitation (and no account) gets its certificate.
 * GET shows what will be issued (HTML, or JSON for `Accept: application/json`); POST issues, from
 * a form (pasted or uploaded CSR, or a key made here as PKCS#12), from JSON (`anvil enroll`), or
 * from a bare CSR (`content-type: application/pkcs10`, answered with the full chain, for curl).
 * The unguessable secret in the path is the credential, so a form needs no CSRF token: a page
 * that could forge the POST would have to know the secret already. Access lines never show it
 * (request-log.ts).
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Child } from 'hono/jsx';
import { z } from '@hono/zod-openapi';
import { CaError, invitationRefusal, type Authority, type InvitationRecord, type IssuedCertificate } from '@anvil/ca';
import { KEY_ALGORITHMS, privateKeyPem } from '@anvil/pki';
import type { AppEnv } from '../env.ts';
import { problem } from '../problem.ts';
import { EnrollPage, EnrollResult, InvitationRefused, type InvitationFacts } from '../views/enroll-pages.tsx';
import type { DataDownload } from '../views/issue-pages.tsx';
import { Layout } from '../views/layout.tsx';
import { issuanceBundles } from './api/bundles.ts';
import { enrollmentUrl } from './api/invitations.ts';

/** A CSR is a few KiB; a form with one, uploaded, stays far below this. */
const ENROLL_BODY_LIMIT = 256 * 1024;
const PKCS12_PASSWORD_MIN = 8;

const KIND_WORDS: Record<string, string> = {
  client: 'A TLS client certificate',
  server: 'A TLS server certificate',
  peer: 'A TLS client and server (peer) certificate',
};

const JsonEnrollSchema = z
  .object({
    csr: z
      .string()
      .max(64 * 1024)
      .optional(),
    keyAlgorithm: z.enum(KEY_ALGORITHMS).optional(),
    pkcs12Password: z.string().min(PKCS12_PASSWORD_MIN).max(256).optional(),
    commonName: z.string().min(1).max(64).optional().openapi({ description: 'CN of a key made here (a CSR carries its own)' }),
  })
  .strict();

function wantsJson(c: Context): boolean {
  const accept = c.req.header('accept') ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

function html(c: Context, title: string, body: Child, status: ContentfulStatusCode = 200) {
  // No user, so no navigation: the partner sees this page and nothing of the console.
  return c.html(
    `<!doctype html>${(
      (
        <Layout title={title} csrf="">
          {body}
        </Layout>
      )
    ).toString()}`,
    status,
  );
}

async function factsOf(authority: Authority, inv: InvitationRecord): Promise<InvitationFacts> {
  const profile = await authority.profile(inv.profile).catch(() => null);
  return {
    name: inv.name,
    profile: inv.profile,
    kind: KIND_WORDS[profile?.kind ?? ''] ?? 'A certificate',
    subject: (inv.limits.subject as Record<string, string> | undefined) ?? {},
    sans: inv.sans,
    sanPatterns: inv.limits.sanPatterns ?? [],
    ttlSeconds: inv.ttlSeconds,
    expiresAt: inv.expiresAt,
  };
}

export function enrollRoutes(deps: { authority: Authority; publicUrl: string }) {
  const { authority } = deps;
  const app = new Hono<AppEnv>();
  const urlOf = (secret: string) => enrollmentUrl(deps.publicUrl, secret);

  app.use(
    '*',
    bodyLimit({
      maxSize: ENROLL_BODY_LIMIT,
      onError: (c) => problem(c, 413, 'body_too_large', `the request body exceeds ${ENROLL_BODY_LIMIT} bytes`),
    }),
  );

  /**
   * The invitation of the path, or the answer refusing it (unknown: 404; used, expired, withdrawn:
   * 410). A POST leaves the 410 to the authority, which audits the refused use.
   */
  async function opened(c: Context<AppEnv>): Promise<{ inv: InvitationRecord; secret: string } | Response> {
    const secret = c.req.param('secret') ?? '';
    let inv: InvitationRecord;
    try {
      inv = await authority.invitationBySecret(secret);
    } catch (err) {
      if (!(err instanceof CaError) || err.kind !== 'not_found') throw err;
      return refusal(c, err, 404);
    }
    const gone = c.req.method === 'POST' ? null : invitationRefusal(inv, authority.now());
    return gone ? refusal(c, gone, 410, inv.usedAt ? `${urlOf(secret)}/fullchain.pem` : undefined) : { inv, secret };
  }

  function refusal(c: Context<AppEnv>, err: CaError, status: 404 | 410, fullchainUrl?: string) {
    if (wantsJson(c) || (c.req.method === 'POST' && !isForm(c)))
      return problem(c, status, err.code, err.message, fullchainUrl ? { fullchainUrl } : {});
    return html(c, 'Invitation', <InvitationRefused code={err.code} message={err.message} fullchainUrl={fullchainUrl} />, status);
  }

  app.get('/:secret', async (c) => {
    const o = await opened(c);
    if (o instanceof Response) return o;
    const facts = await factsOf(authority, o.inv);
    if (wantsJson(c)) {
      return c.json({ ...facts, expiresAt: facts.expiresAt.toISOString(), status: 'pending' as const, url: urlOf(o.secret) }, 200);
    }
    return html(c, `Certificate for ${facts.name}`, <EnrollPage facts={facts} url={urlOf(o.secret)} />);
  });

  // The certificate an invitation issued: public (a certificate holds no secret), for whoever holds the link.
  app.get('/:secret/fullchain.pem', async (c) => {
    const inv = await authority.invitationBySecret(c.req.param('secret'));
    if (!inv.certificateId) return problem(c, 404, 'not_enrolled', 'no certificate was issued with this invitation yet');
    const { fullchain } = authority.pemsOf(await authority.certificate(inv.certificateId));
    return c.body(fullchain, 200, { 'content-type': 'application/pem-certificate-chain' });
  });

  app.post('/:secret', async (c) => {
    const o = await opened(c);
    if (o instanceof Response) return o;
    const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
    const source = c.get('clientAddress') ?? null;

    if (type === 'application/pkcs10') {
      const issued = await authority.enroll(o.secret, { csr: csrText(new Uint8Array(await c.req.arrayBuffer())) }, source);
      logIssued(c, issued);
      return c.body(authority.pemsOf(issued.record).fullchain, 201, { 'content-type': 'application/pem-certificate-chain' });
    }

    if (type === 'application/json') {
      const body = await c.req.json().catch(() => undefined);
      const parsed = JsonEnrollSchema.safeParse(body);
      if (!parsed.success) {
        return problem(
          c,
          400,
          'validation_failed',
          parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
        );
      }
      const { pkcs12Password, ...key } = parsed.data;
      if (key.csr && pkcs12Password !== undefined) {
        return problem(c, 422, 'pkcs12_requires_generated_key', 'with a csr the key stays with you: build the PKCS#12 yourself');
      }
      const issued = await authority.enroll(o.secret, key, source);
      logIssued(c, issued);
      const pems = authority.pemsOf(issued.record);
      return c.json(
        {
          id: issued.record.id,
          serial: issued.record.serial,
          notAfter: issued.record.notAfter.toISOString(),
          certificate: pems.certificate,
          chain: pems.chain,
          fullchain: pems.fullchain,
          ...(issued.privateKeyPkcs8 ? { privateKey: privateKeyPem(issued.privateKeyPkcs8) } : {}),
          ...issuanceBundles(authority, issued, { pkcs12Password }),
        },
        201,
      );
    }

    if (!isForm(c)) return problem(c, 415, 'unsupported_media_type', 'send a form, application/json or application/pkcs10');
    return formPost(c, o.inv, o.secret, source);
  });

  async function formPost(c: Context<AppEnv>, inv: InvitationRecord, secret: string, source: string | null) {
    const form = await c.req.parseBody({ all: true }).catch(() => ({}) as Record<string, unknown>);
    const text = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : '');
    const facts = await factsOf(authority, inv);
    const url = urlOf(secret);
    const again = (status: ContentfulStatusCode, errors: Record<string, string>, message: string, csr?: string) =>
      html(
        c,
        `Certificate for ${facts.name}`,
        <EnrollPage facts={facts} url={url} errors={errors} message={message} values={{ csr }} />,
        status,
      );

    let key: { csr?: string; keyAlgorithm?: (typeof KEY_ALGORITHMS)[number]; commonName?: string };
    let password: string | undefined;
    if (text('method') === 'generate') {
      password = text('pkcs12Password');
      const algorithm = text('keyAlgorithm') || 'EC-P256';
      if (!(KEY_ALGORITHMS as readonly string[]).includes(algorithm))
        return again(422, { keyAlgorithm: 'Choose one of the listed algorithms.' }, 'Nothing was issued.');
      if (password.length < PKCS12_PASSWORD_MIN || password.length > 256) {
        return again(422, { pkcs12Password: `The password is ${PKCS12_PASSWORD_MIN} to 256 characters.` }, 'Nothing was issued.');
      }
      key = { keyAlgorithm: algorithm as (typeof KEY_ALGORITHMS)[number], commonName: text('commonName').trim() || undefined };
    } else {
      const upload = form.csrFile instanceof File && form.csrFile.size > 0 ? form.csrFile : null;
      const csr = upload ? csrText(new Uint8Array(await upload.arrayBuffer())) : text('csr');
      if (!csr.trim()) return again(422, { csr: 'Paste or upload a certificate request.' }, 'Nothing was issued.');
      key = { csr };
    }
    let issued: IssuedCertificate;
    try {
      issued = await authority.enroll(secret, key, source);
    } catch (err) {
      if (!(err instanceof CaError) || err.kind === 'unavailable') throw err;
      if (err.kind === 'gone') return refusal(c, err, 410, err.code === 'invitation_used' ? `${url}/fullchain.pem` : undefined);
      const field = key.csr ? 'csr' : err.code.includes('cn') || err.code.includes('subject') ? 'commonName' : 'keyAlgorithm';
      return again(err.kind === 'forbidden' ? 403 : 422, { [field]: `${err.message}.` }, `Nothing was issued (${err.code}).`, key.csr);
    }
    logIssued(c, issued);
    const pems = authority.pemsOf(issued.record);
    const base = (issued.record.commonName ?? issued.record.serial).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 64) || 'certificate';
    const secretDownloads: DataDownload[] = [];
    const p12 = issuanceBundles(authority, issued, { pkcs12Password: password }).pkcs12;
    if (p12) {
      secretDownloads.push({
        label: 'PKCS#12 (.p12)',
        filename: `${base}.p12`,
        mediaType: 'application/x-pkcs12',
        bytes: new Uint8Array(Buffer.from(p12, 'base64')),
      });
    }
    const publicDownloads: DataDownload[] = [
      {
        label: 'Full chain (fullchain.pem)',
        filename: `${base}.fullchain.pem`,
        mediaType: 'application/x-pem-file',
        bytes: pems.fullchain,
      },
      { label: 'Certificate (cert.pem)', filename: `${base}.cert.pem`, mediaType: 'application/x-pem-file', bytes: pems.certificate },
      { label: 'Intermediates (chain.pem)', filename: `${base}.chain.pem`, mediaType: 'application/x-pem-file', bytes: pems.chain },
    ];
    return html(
      c,
      'Certificate issued',
      <EnrollResult
        certificate={{
          subject: issued.record.subject,
          serial: issued.record.serial,
          sans: issued.record.sans,
          notAfter: issued.record.notAfter,
        }}
        secretDownloads={secretDownloads}
        publicDownloads={publicDownloads}
        fullchainUrl={`${url}/fullchain.pem`}
      />,
      201,
    );
  }

  return app;
}

function isForm(c: Context): boolean {
  const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  return type === 'multipart/form-data' || type === 'application/x-www-form-urlencoded';
}

/** A CSR sent as bytes (curl --data-binary, an upload): PEM as it is, DER as base64 (what the issuance code reads). */
function csrText(bytes: Uint8Array): string {
  return bytes[0] === 0x30 ? Buffer.from(bytes).toString('base64') : Buffer.from(bytes).toString('latin1');
}

function logIssued(c: Context<AppEnv>, issued: IssuedCertificate) {
  c.get('log').info(
    { certificateId: issued.record.id, serial: issued.record.serial, profile: issued.record.profile },
    'certificate issued by invitation',
  );
}
