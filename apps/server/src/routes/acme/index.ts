/**
 * ACME (RFC 8555) over HTTP: /acme/{profile}/directory and the resources under it. The protocol
 * lives in packages/ca/src/acme/service.ts; this file reads bodies, builds the resource URLs of
 * the listener the client used, and writes answers: JSON resources, problem documents, and on
 * every answer a fresh Replay-Nonce and the directory as Link rel="index".
 *
 * Which origin the URLs use: on the plain HTTP app, ANVIL_PUBLIC_URL (a client reaching Anvil
 * under another name gets `unauthorized` for the `url` of its JWS, as the RFC wants); on the mTLS
 * listener, https:// plus the request's Host when its name is one of ANVIL_HOSTNAMES (the names
 * of that listener's certificate), so a client that connected to any of them is answered in kind.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import {
  AcmeProblem,
  AcmeProblemWithExtras,
  AcmeUrls,
  CaError,
  acmeProblem,
  fromCaError,
  type AcmeAccountRecord,
  type AcmeAuthorizationRecord,
  type AcmeChallengeRecord,
  type AcmeOrderRecord,
  type AcmeRequest,
  type Authority,
  type ChallengeValidator,
  type Profile,
  validateChallenge,
  type ValidationSettings,
} from '@anvil/ca';
import { databaseUnavailableCode } from '@anvil/db';
import type { AppEnv } from '../../env.ts';
import { DATABASE_RETRY_AFTER_S } from '../../problem.ts';
import { renewalInfoRoutes } from './renewal-info.ts';

export interface AcmeRoutesDeps {
  authority: Authority;
  /** The origin of this listener's ACME URLs: fixed, or from the request (null: a Host this listener does not serve). */
  baseUrl: string | ((c: Context<AppEnv>) => string | null);
  /** Runs a challenge's validation (challenges.ts over the configured settings). */
  validator: ChallengeValidator;
}

/** The validator of the configured settings (challenges.ts). */
export function validatorOf(settings: ValidationSettings): ChallengeValidator {
  return (challenge) => validateChallenge(challenge, settings);
}

/** RFC 8555 bodies are small JWS objects; the same 64 KiB as the API. */
const MAX_BODY = 64 * 1024;

/** https://<Host> for a Host whose name is one of the listener's own names; else null. */
export function hostBaseUrl(hostnames: readonly string[]): (c: Context<AppEnv>) => string | null {
  const names = new Set(hostnames.map((h) => h.toLowerCase()));
  return (c) => {
    const host = c.req.header('host') ?? '';
    const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(host);
    if (!m) return null;
    const name = m[1].replace(/^\[|\]$/g, '').toLowerCase();
    return names.has(name) ? `https://${host.toLowerCase()}` : null;
  };
}

interface Ctx {
  urls: AcmeUrls;
  profile: Profile;
  source: string | null;
}

export function acmeRoutes(deps: AcmeRoutesDeps) {
  const app = new Hono<AppEnv>();
  const acme = deps.authority.acme;

  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY,
      onError: (c) => problemResponse(c, acmeProblem('malformed', `the request body exceeds ${MAX_BODY} bytes`, { status: 413 })),
    }),
  );

  /** Runs a handler with the directory's URLs and profile; any refusal becomes a problem document. Adds the headers every answer carries. */
  const answer = async (c: Context<AppEnv>, handler: (ctx: Ctx) => Promise<Response>): Promise<Response> => {
    let urls: AcmeUrls | null = null;
    let res: Response;
    try {
      const base = typeof deps.baseUrl === 'string' ? deps.baseUrl : deps.baseUrl(c);
      if (!base) throw acmeProblem('malformed', 'this listener does not answer ACME under that host name', { status: 421 });
      urls = new AcmeUrls(base, c.req.param('profile') ?? '');
      const profile = await acme.directoryProfile(urls.profile);
      res = await handler({ urls, profile, source: c.get('clientAddress') ?? null });
    } catch (err) {
      res = problemResponse(c, err);
    }
    try {
      res.headers.set('Replay-Nonce', await acme.newNonce());
    } catch {
      // The database is away: the answer (most likely a 503 already) goes without a nonce.
    }
    if (urls) res.headers.append('Link', `<${urls.directory()}>;rel="index"`);
    res.headers.set('Cache-Control', 'no-store');
    return res;
  };

  /** A POST's JWS, authenticated: content type, JSON, then the service's nonce, url and signature checks. */
  const authenticated = async (c: Context<AppEnv>, url: string, urls: AcmeUrls, key: 'jwk' | 'kid' | 'either'): Promise<AcmeRequest> => {
    const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/jose+json') throw acmeProblem('malformed', 'send the JWS as application/jose+json', { status: 415 });
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      throw acmeProblem('malformed', 'the request body is not JSON');
    }
    return acme.authenticate(body, url, urls, key);
  };

  const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

  app.get('/:profile/directory', (c) => answer(c, async ({ urls, profile }) => json(acme.directory(urls, profile))));

  app.on(['GET', 'HEAD'], '/:profile/new-nonce', (c) =>
    answer(c, async () => new Response(null, { status: c.req.method === 'HEAD' ? 200 : 204 })),
  );

  app.post('/:profile/new-account', (c) =>
    answer(c, async ({ urls, profile, source }) => {
      const req = await authenticated(c, urls.newAccount(), urls, 'jwk');
      const { account, created } = await acme.newAccount(req, urls, profile, source);
      return json(accountJson(account, urls), created ? 201 : 200, { location: urls.account(account.id) });
    }),
  );

  app.post('/:profile/acct/:id', (c) =>
    answer(c, async ({ urls, source }) => {
      const id = c.req.param('id');
      const req = await authenticated(c, urls.account(id), urls, 'kid');
      const account = await acme.updateAccount(req, id, source);
      return json(accountJson(account, urls), 200, { location: urls.account(account.id) });
    }),
  );

  app.post('/:profile/acct/:id/orders', (c) =>
    answer(c, async ({ urls }) => {
      const id = c.req.param('id');
      const ids = await acme.orderIds(await authenticated(c, urls.orders(id), urls, 'kid'), id);
      return json({ orders: ids.map((o) => urls.order(o)) });
    }),
  );

  app.post('/:profile/key-change', (c) =>
    answer(c, async ({ urls, source }) => {
      const req = await authenticated(c, urls.keyChange(), urls, 'kid');
      const account = await acme.changeKey(req, urls, source);
      return json(accountJson(account, urls), 200, { location: urls.account(account.id) });
    }),
  );

  app.post('/:profile/new-order', (c) =>
    answer(c, async ({ urls, profile, source }) => {
      const req = await authenticated(c, urls.newOrder(), urls, 'kid');
      const order = await acme.newOrder(req, profile, source);
      return json(orderJson(order, urls), 201, { location: urls.order(order.id) });
    }),
  );

  app.post('/:profile/order/:id', (c) =>
    answer(c, async ({ urls }) => {
      const id = c.req.param('id');
      const order = await acme.order(await authenticated(c, urls.order(id), urls, 'kid'), id);
      return json(orderJson(order, urls), 200, retryWhileProcessing(order));
    }),
  );

  app.post('/:profile/order/:id/finalize', (c) =>
    answer(c, async ({ urls, source }) => {
      const id = c.req.param('id');
      const order = await acme.finalize(await authenticated(c, urls.finalize(id), urls, 'kid'), id, source);
      return json(orderJson(order, urls), 200, { location: urls.order(order.id), ...retryWhileProcessing(order) });
    }),
  );

  app.post('/:profile/authz/:id', (c) =>
    answer(c, async ({ urls }) => {
      const id = c.req.param('id');
      const authz = await acme.authorization(await authenticated(c, urls.authorization(id), urls, 'kid'), id);
      return json(authorizationJson(authz, urls));
    }),
  );

  app.post('/:profile/chall/:id', (c) =>
    answer(c, async ({ urls, source }) => {
      const id = c.req.param('id');
      const req = await authenticated(c, urls.challenge(id), urls, 'kid');
      const { challenge, authorization } = await acme.challenge(req, id, deps.validator, source);
      return json(challengeJson(challenge, urls), 200, { link: `<${urls.authorization(authorization.id)}>;rel="up"` });
    }),
  );

  app.post('/:profile/cert/:id', (c) =>
    answer(c, async ({ urls }) => {
      const id = c.req.param('id');
      const pem = await acme.certificatePem(await authenticated(c, urls.certificate(id), urls, 'kid'), id);
      return new Response(pem, { status: 200, headers: { 'content-type': 'application/pem-certificate-chain' } });
    }),
  );

  app.post('/:profile/revoke-cert', (c) =>
    answer(c, async ({ urls, source }) => {
      await acme.revoke(await authenticated(c, urls.revokeCert(), urls, 'either'), source);
      return new Response(null, { status: 200 });
    }),
  );

  // RFC 9773 renewal information: no JWS, no nonce (renewal-info.ts).
  app.route('/:profile/renewal-info', renewalInfoRoutes(deps.authority));

  app.all('/:profile/*', (c) =>
    answer(c, async () => {
      throw acmeProblem('malformed', `no ACME resource at ${c.req.method} ${c.req.path}`, { status: c.req.method === 'GET' ? 404 : 405 });
    }),
  );
  return app;
}

function retryWhileProcessing(order: AcmeOrderRecord): Record<string, string> {
  return order.status === 'processing' ? { 'retry-after': '1' } : {};
}

/** Any refusal as an RFC 8555 problem document; an unexpected error is a logged serverInternal that says nothing of itself. */
function problemResponse(c: Context<AppEnv>, err: unknown): Response {
  let problem: AcmeProblem;
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (err instanceof AcmeProblem) problem = err;
  else if (err instanceof CaError) problem = fromCaError(err);
  else if (databaseUnavailableCode(err)) {
    c.get('log')?.warn({ code: databaseUnavailableCode(err) }, 'database unavailable');
    problem = acmeProblem('serverInternal', 'the database is unavailable; retry shortly', {
      status: 503,
      retryAfterSeconds: DATABASE_RETRY_AFTER_S,
    });
  } else {
    c.get('log')?.error({ err }, 'unhandled ACME error');
    problem = acmeProblem('serverInternal', 'an internal error occurred; it has been logged with the request id');
  }
  if (problem.retryAfterSeconds !== undefined) headers['retry-after'] = String(problem.retryAfterSeconds);
  if (problem instanceof AcmeProblemWithExtras && problem.location) headers.location = problem.location;
  return new Response(JSON.stringify(problem.toJSON()), { status: problem.status, headers });
}

function accountJson(account: AcmeAccountRecord, urls: AcmeUrls) {
  return {
    status: account.status,
    contact: account.contact,
    orders: urls.orders(account.id),
    ...(account.eabKeyId ? { externalAccountBinding: { kid: account.eabKeyId } } : {}),
    createdAt: account.createdAt.toISOString(),
  };
}

function orderJson(order: AcmeOrderRecord, urls: AcmeUrls) {
  return {
    status: order.status,
    expires: order.expires.toISOString(),
    identifiers: order.identifiers,
    ...(order.notAfter ? { notAfter: order.notAfter.toISOString() } : {}),
    authorizations: order.authorizationIds.map((id) => urls.authorization(id)),
    finalize: urls.finalize(order.id),
    ...(order.certificateId ? { certificate: urls.certificate(order.certificateId) } : {}),
    ...(order.error ? { error: order.error } : {}),
  };
}

function authorizationJson(authz: AcmeAuthorizationRecord, urls: AcmeUrls) {
  return {
    identifier: authz.identifier,
    status: authz.status,
    expires: authz.expires.toISOString(),
    challenges: authz.challenges.map((ch) => challengeJson(ch, urls)),
    ...(authz.wildcard ? { wildcard: true } : {}),
  };
}

function challengeJson(challenge: AcmeChallengeRecord, urls: AcmeUrls) {
  return {
    type: challenge.type,
    url: urls.challenge(challenge.id),
    status: challenge.status,
    token: challenge.token,
    ...(challenge.validated ? { validated: challenge.validated.toISOString() } : {}),
    ...(challenge.error ? { error: challenge.error } : {}),
  };
}
