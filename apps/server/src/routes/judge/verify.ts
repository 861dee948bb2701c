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
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { JudgeService } from '@anvil/ca';
import type { JudgeCheck, Verdict } from '@anvil/pki';
import type { AppEnv } from '../../env.ts';
import type { Metrics } from '../../metrics.ts';
import { problemAnswer } from '../../problem.ts';
import { renderVerdictPage, VERDICT_STYLESHEET, VERDICT_STYLESHEET_PATH } from '../../views/verdict-page.tsx';
import { JudgeInputProblem, parseExpectName, prefersHtml } from './input.ts';

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

/** JSON of verdicts already sent, per source wording (the judge reuses verdict objects). */
const serialized = new WeakMap<Verdict, Map<string, string>>();

export interface VerifyAnswer {
  status: 200 | 400 | 422;
  headers: Record<string, string>;
  body: string;
}

/**
 * GET /verify, independent of the HTTP framework: the Hono route below and the mTLS
 * listener's fast path (mtls/app.ts) both answer through it.
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
    if (e instanceof JudgeInputProblem)
      return e.code === 'invalid_expect_name' ? problemAnswer(400, 'invalid_query', e.message) : problemAnswer(e.status, e.code, e.message);
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
  app.get(VERDICT_STYLESHEET_PATH, (c) =>
    c.body(VERDICT_STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' }),
  );
  return app;
}
