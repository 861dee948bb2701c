/**
 * Operations endpoints, for orchestrators and Prometheus (no auth, never cached):
 *   GET /healthz  200 while the process answers; touches nothing else (liveness)
 *   GET /readyz   200 when the database answers and every issuer can sign; else 503 problem+json
 *   GET /metrics  Prometheus text format
 * /metrics shows counts, not secrets; still, keep it on the internal network.
 */
import cluster from 'node:cluster';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { Hono } from 'hono';
import type { Authority, LoadedIssuer } from '@anvil/ca';
import { databaseUnavailableCode } from '@anvil/db';
import type { AppEnv } from '../env.ts';
import type { Metrics } from '../metrics.ts';
import { problem } from '../problem.ts';

const NO_STORE = { 'cache-control': 'no-store' };
const DB_TIMEOUT_MS = 2_000;

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export function opsRoutes(deps: { authority: Authority; metrics: Metrics }) {
  const app = new Hono<AppEnv>();

  // `worker`: which worker process of the node answered (ANVIL_WORKERS; 0 when the process serves alone).
  app.get('/healthz', (c) => c.json({ status: 'ok', worker: cluster.worker?.id ?? 0 }, 200, NO_STORE));

  app.get('/readyz', async (c) => {
    const checks = [await databaseCheck(deps.authority), ...(await issuerChecks(deps.authority))];
    const failed = checks.filter((k) => !k.ok);
    if (failed.length === 0) return c.json({ status: 'ready', checks }, 200, NO_STORE);
    c.header('cache-control', 'no-store');
    return problem(c, 503, 'not_ready', failed.map((k) => `${k.name}: ${k.detail}`).join('; '), { checks });
  });

  app.get('/metrics', async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.body(text, 200, { 'content-type': deps.metrics.registry.contentType, ...NO_STORE });
  });

  return app;
}

/** A trivial read, bounded in time so a hung database makes the probe fail instead of hang. */
async function databaseCheck(authority: Authority): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      authority.databaseReady(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${DB_TIMEOUT_MS} ms`)), DB_TIMEOUT_MS);
      }),
    ]);
    return { name: 'database', ok: true, detail: 'answers' };
  } catch (err) {
    const code = databaseUnavailableCode(err);
    if (code) return { name: 'database', ok: false, detail: `unreachable (${code})` };
    return { name: 'database', ok: false, detail: (err as Error).message || 'query failed' };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Each issuer's signer must hold the key of the issuer's certificate and actually sign: a test
 * signature over random bytes, verified against the certificate's public key. This catches a
 * wrong key-encryption key, a missing PKCS#11 token and a swapped key alike.
 */
async function issuerChecks(authority: Authority): Promise<Check[]> {
  const issuers = authority.issuers();
  if (issuers.length === 0) return [{ name: 'issuers', ok: false, detail: 'no issuer is loaded' }];
  return Promise.all(issuers.map((issuer) => issuerCheck(issuer)));
}

async function issuerCheck(issuer: LoadedIssuer): Promise<Check> {
  const name = `issuer:${issuer.record.name}`;
  try {
    if (!issuer.signer) return { name, ok: false, detail: 'no signer is loaded' };
    const spki = Buffer.from(issuer.certificate.subjectPublicKeyInfo.toSchema().toBER(false));
    const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const probe = randomBytes(32);
    const signature = await issuer.signer.sign(probe);
    const ok = verify(issuer.signer.signatureAlgorithm.nodeHash, probe, publicKey, Buffer.from(signature));
    return ok
      ? { name, ok: true, detail: 'signs with the key of its certificate' }
      : { name, ok: false, detail: "the signer's key does not match the issuer certificate" };
  } catch (err) {
    return { name, ok: false, detail: `cannot sign: ${(err as Error).message}` };
  }
}
