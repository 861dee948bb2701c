/**
 * GET /verify: judges the client certificate of this request and answers with the Verdict —
 * JSON, or a page when the Accept header prefers text/html.
 *
 * Where the chain comes from is the `source`: on the mTLS listener, what the client sent in
 * the TLS handshake; on the plain HTTP listener, what a trusted TLS-terminating proxy forwarded
 * in X-Client-Cert (nginx) or X-Forwarded-Client-Cert (Envoy). Either way the chain is judged as
 * nginx would judge it with `ssl_client_certificate` = Anvil's trust bundle and `ssl_crl` =
 * Anvil's current CRLs, plus Anvil's database for its own certificates.
 */
import type { TLSSocket } from 'node:tls';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { JudgeService } from '@anvil/ca';
import type { JudgeCheck, Verdict } from '@anvil/pki';
import type { AppEnv } from '../app.ts';
import type { Metrics } from '../metrics.ts';
import { renderVerdictPage, VERDICT_STYLESHEET, VERDICT_STYLESHEET_PATH } from '../views/verdict-page.tsx';
import { forwardedChain, FORWARD_HEADERS, JudgeInputProblem, parseExpectName, prefersHtml, type TrustedProxies } from './judge-input.ts';

export interface PresentedChain {
  /** DER, leaf first, as the client (or the proxy) sent it; empty when none. */
  chain: Uint8Array[];
  /** Added to the verdict's checks (first) and hints (first). */
  checks?: JudgeCheck[];
  hints?: string[];
}

export type ChainSource = (c: Context<AppEnv>) => PresentedChain;

/** Counts a verdict in anvil_judge_verdicts_total. */
export function countVerdict(metrics: Metrics | undefined, v: Verdict): void {
  metrics?.judgeVerdicts.inc({ status: v.status, reason: v.reason ?? 'none' });
}

const presentedBySocket = new WeakMap<TLSSocket, Uint8Array[]>();

/**
 * A bound on walking the received chain, against surprises only: OpenSSL already refuses a
 * Certificate message over 100 KiB (SSL_MAX_CERT_LIST_DEFAULT), and the judge itself reads the
 * first MAX_PRESENTED of what is read here — but counts them all, so the verdict can say how
 * many the client sent (presentedCount) and that the rest were not read.
 */
const TLS_CHAIN_WALK_LIMIT = 1024;

/**
 * The chain the client sent in the TLS handshake, in its order. Not getPeerCertificate(true):
 * Node builds that by following issuers, dropping sent certificates that do not chain and
 * appending issuers found in the server's own CA store (SSL_CTX cert store), so a client that
 * sent leaf + intermediate would look as if it had sent the root too. getPeerX509Certificate()
 * walks SSL_get_peer_cert_chain as received (issuerCertificate = the next certificate sent) —
 * but it consumes that stack (Node 20 sk_X509_delete()s each certificate it wraps), so a second
 * call on the same connection sees the leaf alone. Read it once per connection and keep it:
 * keep-alive requests on one connection must all be judged on the same chain.
 */
export function tlsPresentedChain(socket: TLSSocket): Uint8Array[] {
  const known = presentedBySocket.get(socket);
  if (known) return known;
  const out: Uint8Array[] = [];
  let cert = socket.getPeerX509Certificate();
  while (cert && out.length < TLS_CHAIN_WALK_LIMIT) {
    out.push(new Uint8Array(cert.raw));
    cert = cert.issuerCertificate;
  }
  presentedBySocket.set(socket, out);
  return out;
}

/** Source for the mTLS listener: the TLS handshake of this connection. */
export const tlsSource: ChainSource = (c) => tlsSocketSource((c.env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket);

export function tlsSocketSource(socket: unknown): PresentedChain {
  if (!socket || typeof (socket as Partial<TLSSocket>).getPeerX509Certificate !== 'function') {
    return { chain: [], checks: [{ name: 'source', ok: false, detail: 'this request did not arrive over TLS' }] };
  }
  const chain = tlsPresentedChain(socket as TLSSocket);
  return {
    chain,
    checks: chain.length ? [{ name: 'source', ok: true, detail: `TLS handshake: the client sent ${chain.length} certificate${chain.length === 1 ? '' : 's'}` }] : [],
  };
}

/**
 * Source for the plain HTTP listener: certificates a trusted proxy forwarded. Headers from any
 * other address are ignored — anyone can send them — and the verdict says so.
 */
export function proxySource(trusted: TrustedProxies, anvilIntermediatesFor: (leaf: Uint8Array) => Uint8Array[] | null): ChainSource {
  return (c) => {
    const address = c.get('clientAddress') ?? null;
    const sent = FORWARD_HEADERS.filter((h) => c.req.header(h));
    if (sent.length === 0) {
      return {
        chain: [],
        checks: [{ name: 'source', ok: false, detail: 'plain HTTP request: no TLS client certificate here, and no X-Client-Cert or X-Forwarded-Client-Cert header from a trusted proxy' }],
        hints: ['This is Anvil\'s plain HTTP listener. Call /verify on the mTLS listener (https://<host>:8443/verify, ANVIL_MTLS_PORT) with your certificate and key, or through a proxy that forwards the client certificate.'],
      };
    }
    if (!trusted.trusts(address)) {
      return {
        chain: [],
        checks: [
          {
            name: 'proxy_headers',
            ok: false,
            detail: `${sent.join(' and ')} ignored: the connection came from ${address ?? 'an unknown address'}, which is not in ANVIL_TRUSTED_PROXIES${trusted.configured ? '' : ' (empty)'}`,
          },
        ],
        hints: [
          `The forwarded certificate was ignored because ${address ?? 'the sender'} is not a trusted proxy. If it is your TLS-terminating proxy, add its address to ANVIL_TRUSTED_PROXIES; otherwise call the mTLS listener directly.`,
        ],
      };
    }
    const forwarded = forwardedChain({ get: (n) => c.req.header(n) });
    if (!forwarded) {
      return {
        chain: [],
        checks: [{ name: 'proxy_headers', ok: true, detail: `${sent.join(' and ')} from trusted proxy ${address} carries no client certificate` }],
      };
    }
    const checks: JudgeCheck[] = [];
    let chain = forwarded.chain;
    if (forwarded.leafOnly && chain.length === 1) {
      const intermediates = anvilIntermediatesFor(chain[0]);
      if (intermediates?.length) {
        chain = [...chain, ...intermediates];
        checks.push({
          name: 'proxy_headers',
          ok: true,
          detail: `${forwarded.header} from trusted proxy ${address} carries only the leaf; Anvil added the intermediate(s) that issued it, so this verdict cannot tell whether the client sent them (the proxy's own $ssl_client_verify can)`,
        });
      } else {
        checks.push({ name: 'proxy_headers', ok: true, detail: `${forwarded.header} from trusted proxy ${address} carries only the leaf certificate` });
      }
    } else {
      checks.push({ name: 'proxy_headers', ok: true, detail: `${forwarded.header} from trusted proxy ${address}: ${chain.length} certificate${chain.length === 1 ? '' : 's'}` });
    }
    return { chain, checks };
  };
}

/** JSON of verdicts already sent, per source wording (the judge reuses verdict objects). */
const serialized = new WeakMap<Verdict, Map<string, string>>();

export interface VerifyAnswer {
  status: 200 | 400 | 422;
  headers: Record<string, string>;
  body: string;
}

const TITLES = { 400: 'Bad Request', 422: 'Unprocessable Content' } as const;

/** Same shape as problem.ts, for callers without a Hono context (the listener's fast path). */
function problemAnswer(status: 400 | 422, code: string, detail: string): VerifyAnswer {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type: `urn:anvil:problem:${code}`, title: TITLES[status], status, code, detail }),
  };
}

/**
 * GET /verify, independent of the HTTP framework: the Hono route below and the mTLS
 * listener's fast path (listener.ts) both answer through it.
 */
export async function answerVerify(
  deps: { judge: JudgeService; metrics?: Metrics },
  input: { purpose: string | undefined; expect: string | undefined; accept: string | undefined; source: () => PresentedChain },
): Promise<VerifyAnswer> {
  const purpose = input.purpose ?? 'client';
  if (purpose !== 'client' && purpose !== 'server') return problemAnswer(400, 'invalid_query', 'purpose is "client" or "server"');
  let source: PresentedChain;
  let expectName;
  try {
    expectName = input.expect !== undefined ? parseExpectName(input.expect, 'expect') : undefined;
    source = input.source();
  } catch (e) {
    if (e instanceof JudgeInputProblem) return e.code === 'invalid_expect_name' ? problemAnswer(400, 'invalid_query', e.message) : problemAnswer(e.status, e.code, e.message);
    throw e;
  }
  const judged = await deps.judge.judge(source.chain, { purpose, expectName, crls: 'anvil' });
  countVerdict(deps.metrics, judged);
  const html = prefersHtml(input.accept);
  // The judge may hand out a shared (cached) verdict: add the source's words to a copy, and
  // keep the JSON of that copy with the verdict, so a repeated chain costs no serialization.
  const sourceKey = source.checks?.length || source.hints?.length ? JSON.stringify([source.checks, source.hints]) : '';
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', vary: 'accept' };
  let bodies = serialized.get(judged);
  const cached = html ? undefined : bodies?.get(sourceKey);
  if (cached) return { status: 200, headers, body: cached };
  const verdict: Verdict = sourceKey
    ? { ...judged, checks: [...(source.checks ?? []), ...judged.checks], hints: [...(source.hints ?? []), ...judged.hints] }
    : judged;
  if (html) return { status: 200, headers: { ...headers, 'content-type': 'text/html; charset=UTF-8' }, body: renderVerdictPage(verdict) };
  const body = JSON.stringify(verdict);
  if (!bodies) serialized.set(judged, (bodies = new Map()));
  if (bodies.size < 8) bodies.set(sourceKey, body);
  return { status: 200, headers, body };
}

export function verifyRoutes(deps: { judge: JudgeService; metrics?: Metrics; source: ChainSource }) {
  const app = new Hono<AppEnv>();
  app.get('/verify', async (c) => {
    const answer = await answerVerify(deps, {
      purpose: c.req.query('purpose'),
      expect: c.req.query('expect'),
      accept: c.req.header('accept'),
      source: () => deps.source(c),
    });
    return c.body(answer.body, answer.status, answer.headers);
  });
  app.get(VERDICT_STYLESHEET_PATH, (c) => c.body(VERDICT_STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' }));
  return app;
}
