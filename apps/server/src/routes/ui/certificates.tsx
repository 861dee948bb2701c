/** @jsxImportSource hono/jsx */
/** The console's pages for the certificate list (search, filters, keyset pages) and each certificate's page. */
import { X509Certificate } from 'node:crypto';
import { Hono } from 'hono';
import { can, userActor, type Authority, type CertificateQuery, type CertificateRecord } from '@anvil/ca';
import {
  OID,
  buildPkcs7CertsOnly,
  certificateFacts,
  describeCertificate,
  extensionOf,
  buildOcspRequest,
  parseOcspResponse,
  pkcs7ToPem,
  readCertificate,
} from '@anvil/pki';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import type { FieldErrors } from '../../views/components.tsx';
import { CertificateDetailPage, CERTIFICATE_DOWNLOADS, type ChainLink, type LiveOcspStatus } from '../../views/certificate-detail.tsx';
import { CertificateListPage, type CertificateFilterValues } from '../../views/certificate-list.tsx';
import { chainDer, kubernetesSecretYaml } from '../api/bundles.ts';
import type { UiDeps } from './index.ts';
import { forbiddenPage, notFoundPage, page, type UiContext } from './render.tsx';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PAGE_SIZE = 50;
const Q_MAX = 256;

export const isCertificateId = (id: string) => UUID.test(id);

/** The filters of the list (from the query string, or from the list's revoke form), as written. */
export function readFilters(get: (name: string) => string): CertificateFilterValues {
  return {
    q: get('q'),
    status: get('status'),
    profile: get('profile'),
    issuer: get('issuer'),
    expiresBefore: get('expiresBefore'),
    sort: get('sort'),
  };
}

/** The store query of some filters, or the errors to show beside the fields (never a throw). */
export async function filterQuery(
  authority: Authority,
  f: CertificateFilterValues,
): Promise<{ query: Omit<CertificateQuery, 'limit'>; errors: FieldErrors }> {
  const errors: FieldErrors = {};
  const query: Omit<CertificateQuery, 'limit'> = {};
  const q = f.q.trim();
  if (q.length > Q_MAX) errors.q = `Search for at most ${Q_MAX} characters.`;
  else if (q) query.q = q;
  if (f.status === 'active' || f.status === 'revoked') query.status = f.status;
  else if (f.status) errors.status = 'Choose active, revoked, or any status.';
  if (f.profile) {
    const profiles = await authority.listProfiles();
    if (profiles.some((p) => p.name === f.profile)) query.profile = f.profile;
    else errors.profile = 'There is no profile of this name.';
  }
  if (f.issuer) {
    const issuer = authority.issuers().find((i) => i.record.name === f.issuer);
    if (issuer) query.issuerId = issuer.record.id;
    else errors.issuer = 'There is no issuer of this name.';
  }
  if (f.expiresBefore) {
    const at = /^\d{4}-\d{2}-\d{2}$/.test(f.expiresBefore) ? new Date(`${f.expiresBefore}T00:00:00Z`) : null;
    if (at && !Number.isNaN(at.getTime()) && at.toISOString().startsWith(f.expiresBefore)) query.expiresBefore = at;
    else errors.expiresBefore = 'Write a date as YYYY-MM-DD, for example 2030-01-31.';
  }
  if (f.sort === 'expiry') query.sort = 'expiry';
  else if (f.sort && f.sort !== 'created') errors.sort = 'Choose newest first or soonest expiry first.';
  return { query, errors };
}

const isInvalidCursor = (err: unknown) => (err as { code?: string } | null)?.code === 'invalid_cursor';

/** The issuer's name, or its id when it is not loaded (never a throw on a page). */
export function issuerNameOf(authority: Authority, record: CertificateRecord): string {
  try {
    return authority.issuerById(record.issuerId).record.name;
  } catch {
    return record.issuerId;
  }
}

/** An RFC 6960 OCSPRequest for one certificate (SHA-1 CertID, as openssl sends by default; no nonce). */
export function ocspRequestFor(record: CertificateRecord, issuerCertificateDer: Uint8Array): Uint8Array {
  const issuer = certificateFacts(issuerCertificateDer);
  return buildOcspRequest({
    issuerNameDer: Buffer.from(issuer.subjectNameHex, 'hex'),
    issuerSpkiDer: issuer.spki,
    serialsHex: [record.serial],
  });
}

/** Asks Anvil's own responder about the certificate, as a relying party would. */
async function liveOcsp(authority: Authority, record: CertificateRecord): Promise<LiveOcspStatus> {
  try {
    const issuer = authority.issuerById(record.issuerId);
    const answer = await authority.ocsp.respond(ocspRequestFor(record, issuer.record.certificateDer));
    const parsed = parseOcspResponse(answer.der);
    if (parsed.status !== 'successful') return { status: 'error', message: `the responder answered ${parsed.status}` };
    const one = parsed.responses.find((r) => r.certId.serialHex === record.serial) ?? parsed.responses[0];
    if (!one) return { status: 'error', message: 'the answer holds no status' };
    return { status: one.status, revokedAt: one.revokedAt, reason: one.reason, thisUpdate: one.thisUpdate, nextUpdate: one.nextUpdate };
  } catch (err) {
    return { status: 'error', message: (err as Error).message };
  }
}

/** The URIs of an Authority Information Access line of Node's X509Certificate ("OCSP - URI:..."). */
function accessUrls(infoAccess: string | undefined, method: string): string[] {
  return (infoAccess ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith(`${method} - URI:`))
    .map((line) => line.slice(`${method} - URI:`.length));
}

function keyAlgorithmText(record: CertificateRecord, x: X509Certificate): string {
  const key = x.publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  const detail = d.namedCurve ? `curve ${d.namedCurve}` : d.modulusLength ? `${d.modulusLength}-bit modulus` : '';
  return `${record.keyAlgorithm} (${key.asymmetricKeyType}${detail ? `, ${detail}` : ''})`;
}

function basicConstraintsText(der: Uint8Array, isCA: boolean): string {
  const ext = extensionOf(readCertificate({ der }), OID.basicConstraints);
  if (!ext) return 'absent';
  return `${isCA ? 'a CA certificate' : 'not a CA: this certificate cannot sign other certificates'}${ext.critical ? ' (critical)' : ''}`;
}

function chainOf(authority: Authority, record: CertificateRecord): ChainLink[] {
  const links: ChainLink[] = [];
  let id: string | null = record.issuerId;
  while (id && links.length < 8) {
    let issuer: ReturnType<Authority['issuerById']>;
    try {
      issuer = authority.issuerById(id);
    } catch {
      break;
    }
    const r = issuer.record;
    links.push({ name: r.name, kind: r.kind, subject: r.subject, notAfter: r.notAfter });
    id = r.parentId;
  }
  return links;
}

/** The three readings of the stored bytes the page shows, or null when they are not one DER certificate. */
function decode(record: CertificateRecord) {
  try {
    return { x: new X509Certificate(record.der), info: describeCertificate(record.der), facts: certificateFacts(record.der) };
  } catch {
    return null;
  }
}

function NothingToDecode(props: { record: CertificateRecord; issuerName: string }) {
  const r = props.record;
  return (
    <>
      <h1>Certificate {r.commonName ?? r.serial}</h1>
      <p>
        The stored bytes of this certificate (serial <span class="mono">{r.serial}</span>, issuer {props.issuerName}, subject{' '}
        <span class="mono">{r.subject}</span>) do not decode as a DER X.509 certificate.
      </p>
    </>
  );
}

export function certificatePages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();

  app.get('/', async (c) => {
    const user = c.get('user');
    const filters = readFilters((name) => (c.req.query(name) ?? '').slice(0, 1024));
    const cursor = c.req.query('cursor') || undefined;
    const profiles = (await authority.listProfiles()).map((p) => p.name);
    const issuers = authority.issuers().map((i) => i.record.name);
    const { query, errors } = await filterQuery(authority, filters);
    const props = {
      csrf: c.get('csrf'),
      filters,
      errors,
      profiles,
      issuers,
      rows: null,
      nextCursor: null,
      firstPage: !cursor,
      canRevoke: can(user.role, 'revoke'),
      now: new Date(),
    };
    if (Object.values(errors).some(Boolean)) {
      const body = <CertificateListPage {...props} message="A filter is not right; see the field marked below." />;
      return page(c, 'Certificates', body, { section: '/certificates', status: 400 });
    }
    if (cursor && cursor.length > 512) {
      return page(
        c,
        'Certificates',
        <CertificateListPage {...props} message="This page link is not valid. Start again from the first page." />,
        {
          section: '/certificates',
          status: 400,
        },
      );
    }
    let result: Awaited<ReturnType<Authority['listCertificates']>>;
    try {
      result = await authority.listCertificates({ ...query, cursor, limit: PAGE_SIZE });
    } catch (err) {
      if (!isInvalidCursor(err)) throw err;
      const body = (
        <CertificateListPage
          {...props}
          message="This page link is not valid (or its certificate is gone). Start again from the first page."
        />
      );
      return page(c, 'Certificates', body, { section: '/certificates', status: 400 });
    }
    const rows = result.items.map((record) => ({ record, issuerName: issuerNameOf(authority, record) }));
    return page(c, 'Certificates', <CertificateListPage {...props} rows={rows} nextCursor={result.nextCursor} />, {
      section: '/certificates',
    });
  });

  /** The record of `:id`, or null when the id is malformed or unknown. */
  const find = async (id: string): Promise<CertificateRecord | null> => {
    if (!UUID.test(id)) return null;
    try {
      return await authority.certificate(id);
    } catch (err) {
      if ((err as { kind?: string }).kind === 'not_found') return null;
      throw err;
    }
  };

  app.get('/:id', async (c) => {
    const record = await find(c.req.param('id'));
    if (!record) return notFoundPage(c, 'certificate');
    const decoded = decode(record);
    if (!decoded) {
      // A row whose bytes do not decode (never issued so; imported or damaged): said, not a 500.
      const body = <NothingToDecode record={record} issuerName={issuerNameOf(authority, record)} />;
      return page(c, `Certificate ${record.commonName ?? record.serial}`, body, { section: '/certificates' });
    }
    const { x, info, facts } = decoded;
    const [ocsp, audit] = await Promise.all([liveOcsp(authority, record), authority.listAudit({ target: record.id, limit: 50 })]);
    const notice = c.req.query('released') === '1' ? 'Released from hold: the certificate is valid again.' : undefined;
    const body = (
      <CertificateDetailPage
        csrf={c.get('csrf')}
        record={record}
        issuerName={issuerNameOf(authority, record)}
        info={info}
        fingerprintSha1={x.fingerprint}
        keyAlgorithm={keyAlgorithmText(record, x)}
        basicConstraints={basicConstraintsText(record.der, info.isCA)}
        crlUrls={facts.crlUrls}
        ocspUrls={accessUrls(x.infoAccess, 'OCSP')}
        caIssuerUrls={accessUrls(x.infoAccess, 'CA Issuers')}
        chain={chainOf(authority, record)}
        ocsp={ocsp}
        audit={audit}
        canRevoke={can(c.get('user').role, 'revoke')}
        notice={notice}
        now={new Date()}
      />
    );
    return page(c, `Certificate ${record.commonName ?? record.serial}`, body, { section: '/certificates' });
  });

  // Downloads with the console session (the API's routes want a bearer token), built as the API builds them.
  app.get('/:id/download/:file', async (c) => {
    const file = c.req.param('file');
    if (!CERTIFICATE_DOWNLOADS.some(([f]) => f === file)) return notFoundPage(c, 'download');
    const record = await find(c.req.param('id'));
    if (!record) return notFoundPage(c, 'certificate');
    const disposition = { 'content-disposition': `attachment; filename="${file}"` };
    const pems = authority.pemsOf(record);
    switch (file) {
      case 'cert.der':
        return c.body(new Uint8Array(record.der), 200, { 'content-type': 'application/pkix-cert', ...disposition });
      case 'bundle.p7b':
      case 'bundle.p7b.pem': {
        const p7 = buildPkcs7CertsOnly([record.der, ...chainDer(authority, record)]);
        if (file === 'bundle.p7b.pem') return c.body(pkcs7ToPem(p7), 200, { 'content-type': 'application/x-pem-file', ...disposition });
        return c.body(new Uint8Array(p7), 200, { 'content-type': 'application/pkcs7-mime; smime-type=certs-only', ...disposition });
      }
      case 'secret.yaml':
        return c.body(kubernetesSecretYaml(authority, record, {}), 200, { 'content-type': 'application/yaml', ...disposition });
      default: {
        const text = file === 'cert.pem' ? pems.certificate : file === 'chain.pem' ? pems.chain : pems.fullchain;
        return c.body(text, 200, { 'content-type': 'application/x-pem-file', ...disposition });
      }
    }
  });

  app.post(
    '/:id/release',
    requirePermission('revoke', (c) => forbiddenPage(c)),
    async (c: UiContext) => {
      const record = await find(c.req.param('id') ?? '');
      if (!record) return notFoundPage(c, 'certificate');
      await authority.revocations.release(record.id, userActor(c.get('user'), c.get('clientAddress')));
      return c.redirect(`/certificates/${record.id}?released=1`, 303);
    },
  );

  return app;
}
