/** @jsxImportSource hono/jsx */
/** The console's pages for revoking partner certificates: selection, reason, confirmation listing exactly what will be revoked, result with the CRL. */
import { Hono } from 'hono';
import { userActor, type Authority, type CertificateRecord } from '@anvil/ca';
import { isRevokeReason } from '@anvil/pki';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import type { FieldErrors } from '../../views/components.tsx';
import { NothingSelectedPage, ResultPage, ReviewPage, type CrlLine, type RevocationItem } from '../../views/certificate-revocation.tsx';
import { filterQuery, isCertificateId, issuerNameOf, readFilters } from './certificates.tsx';
import type { UiDeps } from './index.ts';
import { forbiddenPage, formList, formText, page, type UiContext } from './render.tsx';

/** At most this many certificates in one confirmation. */
export const REVIEW_CAP = 1000;
/** Results of up to this many certificates are redirected to (GET, recomputed); larger ones are rendered at once. */
const REDIRECT_MAX = 100;

/** The posted ids: well-formed, once each, in order (null when more than the cap). */
function postedIds(c: UiContext): string[] | null {
  const ids = [...new Set(formList(c, 'id').map((s) => s.trim().toLowerCase()))].filter(isCertificateId);
  return ids.length > REVIEW_CAP ? null : ids;
}

async function load(authority: Authority, ids: string[]): Promise<CertificateRecord[]> {
  const out: CertificateRecord[] = [];
  for (const id of ids) {
    try {
      out.push(await authority.certificate(id));
    } catch (err) {
      if ((err as { kind?: string }).kind !== 'not_found') throw err;
    }
  }
  return out;
}

const items = (authority: Authority, records: CertificateRecord[]): RevocationItem[] =>
  records.map((record) => ({ record, issuerName: issuerNameOf(authority, record) }));

export function revokePages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();
  const mayRevoke = requirePermission('revoke', (c) => forbiddenPage(c));
  app.use('*', mayRevoke);

  const nothing = (c: UiContext, message?: string, status: 200 | 400 = 200) =>
    page(c, 'Nothing selected', <NothingSelectedPage message={message} />, { section: '/certificates', status });

  /** The confirmation page for some active certificates. */
  const review = (
    c: UiContext,
    list: RevocationItem[],
    extra: { skipped: number; capped: boolean; reason?: string; errors?: FieldErrors },
  ) =>
    page(
      c,
      'Review revocation',
      <ReviewPage
        csrf={c.get('csrf')}
        items={list}
        {...extra}
        message={extra.errors?.reason ? 'Nothing was revoked yet: choose a reason.' : undefined}
        now={new Date()}
      />,
      { section: '/certificates', status: extra.errors ? 422 : 200 },
    );

  app.post('/review', async (c) => {
    if (formText(c, 'all') === '1') {
      // Every active certificate of the search: resolved here, to the exact ids the confirm form carries.
      const { query, errors } = await filterQuery(authority, { ...readFilters((n) => formText(c, n)), status: 'active', sort: '' });
      const wrong = Object.values(errors).filter(Boolean);
      if (wrong.length) return nothing(c, `The search could not be used (${wrong.join(' ')}). Nothing was revoked.`, 400);
      const found: CertificateRecord[] = [];
      let cursor: string | undefined;
      do {
        const result = await authority.listCertificates({ ...query, status: 'active', cursor, limit: 500 });
        found.push(...result.items);
        cursor = result.nextCursor ?? undefined;
      } while (cursor && found.length <= REVIEW_CAP);
      if (found.length === 0) return nothing(c, 'The search matches no active certificate. Nothing was revoked.');
      const capped = found.length > REVIEW_CAP;
      return review(c, items(authority, found.slice(0, REVIEW_CAP)), { skipped: 0, capped });
    }
    const ids = postedIds(c);
    if (ids === null) return nothing(c, `Select at most ${REVIEW_CAP} certificates at once. Nothing was revoked.`, 400);
    const records = await load(authority, ids);
    const active = records.filter((r) => r.status === 'active');
    if (active.length === 0) return nothing(c);
    return review(c, items(authority, active), { skipped: formList(c, 'id').length - active.length, capped: false });
  });

  app.post('/confirm', async (c) => {
    const ids = postedIds(c);
    if (ids === null) return nothing(c, `At most ${REVIEW_CAP} certificates at once. Nothing was revoked.`, 400);
    if (ids.length === 0) return nothing(c);
    const reason = formText(c, 'reason');
    if (!isRevokeReason(reason)) {
      const records = await load(authority, ids);
      const active = records.filter((r) => r.status === 'active');
      if (active.length === 0) return nothing(c, 'The certificates of this confirmation are no longer active. Nothing was revoked.');
      const error = reason ? 'This is not a reason Anvil accepts; choose one below.' : 'Choose the reason for this revocation.';
      return review(c, items(authority, active), { skipped: ids.length - active.length, capped: false, reason, errors: { reason: error } });
    }
    const outcomes = await authority.revocations.revokeMany(ids, reason, userActor(c.get('user'), c.get('clientAddress')));
    const changed = new Set(outcomes.filter((o) => o.changed).map((o) => o.record.id));
    if (ids.length <= REDIRECT_MAX) {
      const fresh = ids.flatMap((id, i) => (changed.has(id) ? [String(i)] : []));
      return c.redirect(`/revoke/result?${new URLSearchParams({ ids: ids.join(','), now: fresh.join(',') })}`, 303);
    }
    return result(
      c,
      outcomes.map((o) => o.record),
      changed,
    );
  });

  /** The result, recomputed from the database; `now` says which of `ids` this confirmation changed. */
  app.get('/result', async (c) => {
    const ids = (c.req.query('ids') ?? '').split(',').filter(isCertificateId).slice(0, REDIRECT_MAX);
    const fresh = new Set(
      (c.req.query('now') ?? '')
        .split(',')
        .filter((i) => /^\d{1,3}$/.test(i))
        .map(Number),
    );
    const records = await load(authority, ids);
    if (records.length === 0) return nothing(c, 'This result names no certificate.');
    const changed = new Set(
      ids.filter((_id, i) => fresh.has(i)).filter((id) => records.some((r) => r.id === id && r.status === 'revoked')),
    );
    return result(c, records, changed);
  });

  async function result(c: UiContext, records: CertificateRecord[], changed: Set<string>) {
    const crls: CrlLine[] = [];
    for (const issuerId of new Set(records.filter((r) => r.status === 'revoked').map((r) => r.issuerId))) {
      const issuer = authority.issuerById(issuerId);
      const crl = await authority.crls.current(issuer);
      crls.push({
        issuerName: issuer.record.name,
        number: crl.number,
        thisUpdate: crl.thisUpdate,
        url: `/pki/crl/${issuer.record.name}.crl`,
      });
    }
    const body = <ResultPage items={items(authority, records)} changed={changed} crls={crls} now={new Date()} />;
    return page(c, 'Revocation result', body, { section: '/certificates' });
  }

  return app;
}
