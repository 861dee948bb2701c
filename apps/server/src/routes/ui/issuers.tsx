/** @jsxImportSource hono/jsx */
/** The console's pages for issuers: details, chain, CRL state, downloads, re-sign the CRL. */
import { Hono } from 'hono';
import { can, CaError, userActor, type Authority, type LoadedIssuer } from '@anvil/ca';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import {
  ImportIssuerForm,
  IssuerDetail,
  IssuerList,
  type CrlState,
  type ImportDraft,
  type IssuerSummary,
} from '../../views/issuer-pages.tsx';
import { GATEWAY_KINDS, gatewayConfig, gatewayInput, isGatewayKind } from '../../gateway/index.ts';
import { GatewayPage } from '../../views/gateway-page.tsx';
import { forbiddenPage, formText, notFoundPage, page, type UiContext } from './render.tsx';
import type { UiDeps } from './index.ts';

async function crlState(authority: Authority, issuer: LoadedIssuer): Promise<CrlState | null> {
  const header = await authority.crlHeader(issuer);
  if (!header) return null;
  const now = authority.now();
  const freshness = header.nextUpdate <= now ? 'expired' : authority.crls.isStale(header) ? 'stale' : 'fresh';
  return { number: header.number.toString(), thisUpdate: header.thisUpdate, nextUpdate: header.nextUpdate, freshness };
}

async function summaryOf(authority: Authority, i: LoadedIssuer): Promise<IssuerSummary> {
  const r = i.record;
  return {
    name: r.name,
    kind: r.kind,
    status: r.status,
    subject: r.subject,
    keyAlgorithm: r.keyAlgorithm,
    serial: r.serial,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    parent: r.parentId ? authority.issuerById(r.parentId).record.name : null,
    crl: await crlState(authority, i),
    nameConstraints: r.nameConstraints ?? null,
    retiredAt: r.retiredAt ?? null,
  };
}

/** The issuer of that name, or null (unknown names are a 404 page, not an error). */
function issuerNamed(authority: Authority, name: string): LoadedIssuer | null {
  try {
    return authority.issuerByName(name);
  } catch (err) {
    if (err instanceof CaError && err.kind === 'not_found') return null;
    throw err;
  }
}

const issuerPath = (name: string) => `/issuers/${encodeURIComponent(name)}`;

/** From the issuer up to its root. */
function chainUp(authority: Authority, issuer: LoadedIssuer): LoadedIssuer[] {
  const out = [issuer];
  for (let i = issuer; i.record.parentId && out.length < 16; ) {
    i = authority.issuerById(i.record.parentId);
    out.push(i);
  }
  return out;
}

export function issuerPages(deps: UiDeps) {
  const { authority } = deps;
  const app = new Hono<UiEnv>();

  const listPage = async (
    c: UiContext,
    importForm?: { draft: ImportDraft; error: { code: string; message: string } },
    status: 200 | 422 = 200,
  ) => {
    const issuers = await Promise.all(authority.issuers().map((i) => summaryOf(authority, i)));
    const body = (
      <>
        <IssuerList issuers={issuers} />
        {can(c.get('user').role, 'ca-keys') ? <ImportIssuerForm csrf={c.get('csrf')} {...importForm} /> : null}
      </>
    );
    return page(c, 'Issuers', body, { section: '/issuers', status });
  };

  app.get('/', (c) => listPage(c));

  // Import an existing CA (issuer-import.ts); a refusal shows its code above the form, nothing imported.
  app.post(
    '/import',
    requirePermission('ca-keys', (c) => forbiddenPage(c, 'Your role may not import CAs.')),
    async (c) => {
      const draft: ImportDraft = { name: formText(c, 'name').trim(), certificate: formText(c, 'certificate'), chain: formText(c, 'chain') };
      const passphrase = formText(c, 'passphrase');
      const privateKey = formText(c, 'privateKey').trim();
      const keyRef = formText(c, 'keyRef').trim();
      try {
        const imported = await authority.importIssuer(
          {
            ...draft,
            chain: draft.chain || undefined,
            privateKey: privateKey || undefined,
            keyRef: keyRef || undefined,
            passphrase: passphrase || undefined,
          },
          userActor(c.get('user'), c.get('clientAddress')),
        );
        return c.redirect(issuerPath(imported.record.name), 303);
      } catch (err) {
        if (!(err instanceof CaError) || (err.kind !== 'invalid' && err.kind !== 'conflict')) throw err;
        return listPage(c, { draft, error: { code: err.code, message: err.message } }, 422);
      }
    },
  );

  const detail = async (c: UiContext, issuer: LoadedIssuer, resigned?: string) => {
    const body = (
      <IssuerDetail
        csrf={c.get('csrf')}
        issuer={await summaryOf(authority, issuer)}
        chain={chainUp(authority, issuer).map((i) => ({ name: i.record.name, subject: i.record.subject, kind: i.record.kind }))}
        canResign={can(c.get('user').role, 'issuers')}
        resigned={resigned}
      />
    );
    return page(c, `Issuer ${issuer.record.name}`, body, { section: '/issuers' });
  };

  app.get('/:name', async (c) => {
    const issuer = issuerNamed(authority, c.req.param('name'));
    if (!issuer) return notFoundPage(c, 'issuer');
    const resigned = c.req.query('resigned');
    return detail(c, issuer, resigned && /^\d{1,40}$/.test(resigned) ? resigned : undefined);
  });

  // Gateway configuration: links choose the kind (no form, so no CSRF token and no script).
  app.get('/:name/gateway', (c) => c.redirect(`/issuers/${encodeURIComponent(c.req.param('name'))}/gateway/nginx`, 302));
  app.get('/:name/gateway/:kind', (c) => {
    const issuer = issuerNamed(authority, c.req.param('name'));
    if (!issuer) return notFoundPage(c, 'issuer');
    const kind = c.req.param('kind');
    if (!isGatewayKind(kind)) return notFoundPage(c, 'gateway kind');
    const gateway = gatewayConfig(kind, gatewayInput(authority, issuer));
    const body = <GatewayPage issuer={issuer.record.name} kinds={GATEWAY_KINDS} gateway={gateway} />;
    return page(c, `Gateway configuration: ${issuer.record.name}`, body, { section: '/issuers' });
  });

  app.post(
    '/:name/crl',
    requirePermission('issuers', (c) => forbiddenPage(c, 'Your role may not re-sign CRLs.')),
    async (c) => {
      const issuer = issuerNamed(authority, c.req.param('name'));
      if (!issuer) return notFoundPage(c, 'issuer');
      const crl = await authority.resignCrl(issuer, userActor(c.get('user'), c.get('clientAddress')));
      // Post, redirect, get: a reload of the page that follows signs nothing more.
      return c.redirect(`/issuers/${encodeURIComponent(issuer.record.name)}?resigned=${crl.number}`, 303);
    },
  );

  return app;
}
