/** The HTTP application: middleware in order, then the API, /pki, /ocsp, the judge doors and the console. */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import type { Authority } from '@anvil/ca';
import { getConnInfo } from '@hono/node-server/conninfo';
import { mapError, problem } from './problem.ts';
import { unlessClientAborted } from './middleware/client-abort.ts';
import { requestLog } from './middleware/request-log.ts';
import { securityHeaders } from './middleware/security-headers.ts';
import { rejectControlCharacters } from './middleware/text-guard.ts';
import { validationHook } from './validation.ts';
import type { AppEnv } from './env.ts';
import { apiRoutes } from './routes/api/index.ts';
import { referenceRoutes } from './routes/api/reference.ts';
import { pkiRoutes } from './routes/pki/issuers.ts';
import { opsRoutes } from './routes/ops.ts';
import { countOcspAnswers, createMetrics, type Metrics } from './metrics.ts';
import { crlRoutes } from './routes/pki/crl.ts';
import { ocspFastPath, ocspRoutes } from './routes/pki/ocsp.ts';
import { JudgeService } from '@anvil/ca';
import { proxySource, trustedProxies } from './routes/judge/proxy-headers.ts';
import { verifyRoutes } from './routes/judge/verify.ts';
import { uiRoutes } from './routes/ui/index.ts';
import { enrollRoutes } from './routes/enroll.tsx';
import { estRoutes } from './routes/est/index.ts';
import { acmeRoutes, validatorOf } from './routes/acme/index.ts';
import { parseValidationSettings, type ValidationSettings } from '@anvil/ca';

export interface AppDeps {
  authority: Authority;
  log: Logger;
  bodyLimit?: number;
  /** Prometheus registry and counters; one is created when absent (see metrics.ts). */
  metrics?: Metrics;
  /** The judge (POST /api/v1/judge, GET /verify); one is created when absent. Share it with the mTLS listener. */
  judge?: JudgeService;
  /** ANVIL_TRUSTED_PROXIES: addresses or CIDRs whose X-Client-Cert / X-Forwarded-Client-Cert headers GET /verify believes. */
  trustedProxies?: string[];
  /** ANVIL_PUBLIC_URL: where people reach the console (https makes its cookies Secure and __Host-). */
  publicUrl?: string;
  /** ACME challenge validation (ANVIL_ACME_*); absent: challenges.ts's defaults (ports 80/443, private networks). */
  acmeValidation?: ValidationSettings;
}

const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
/** POST /api/v1/judge carries pasted CRLs (nginx ssl_crl files): up to 16 MiB. */
const JUDGE_BODY_LIMIT = 16 * 1024 * 1024;

/** The peer's address; app.request() in tests has no socket. */
function peerAddress(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

/** Builds the HTTP application from its parts; tests call `app.request()` on it. */
export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const metrics = deps.metrics ?? createMetrics();

  app.use('*', securityHeaders());
  // Probes and scrapes arrive every few seconds: their access lines are debug.
  app.use('*', requestLog({ log: deps.log, debugPaths: OPS_PATHS, clientAddress: peerAddress }));

  app.use('*', rejectControlCharacters());

  // Pasted CRLs make POST /api/v1/judge the one route whose bodies are legitimately large.
  const maxBody = deps.bodyLimit ?? 64 * 1024;
  const judgeMaxBody = Math.max(maxBody, JUDGE_BODY_LIMIT);
  const limits = new Map<number, ReturnType<typeof bodyLimit>>();
  const tooLarge = (c: Context, max: number) => problem(c, 413, 'body_too_large', `the request body exceeds ${max} bytes`);
  const streamedBodyLimit = (max: number) => {
    let limit = limits.get(max);
    if (!limit) limits.set(max, (limit = bodyLimit({ maxSize: max, onError: (c) => tooLarge(c, max) })));
    return limit;
  };
  app.use('/api/*', async (c, next) => {
    const max = c.req.path === '/api/v1/judge' ? judgeMaxBody : maxBody;
    // A declared Content-Length decides from the header alone, exactly as hono's bodyLimit does,
    // but before anything reads `c.req.raw.body`: with @hono/node-server that builds a
    // web-stream Request per call and disables its direct body read (bench:issue: server CPU
    // per certificate 2.2 -> 1.9 ms). Node's parser never hands over more than Content-Length bytes.
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(length)) {
      return Number(length) > max ? tooLarge(c, max) : next();
    }
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    return streamedBodyLimit(max)(c, next); // chunked bodies: counted as they stream
  });

  const judge = deps.judge ?? new JudgeService({ authority: deps.authority });

  // Public under /api/v1, so mounted before the authenticated API sub-app and its middleware:
  // the OpenAPI document (built per request from the registry the mounts below fill) and the reference page.
  app.doc31('/api/v1/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Anvil', version: '0.1.0', description: 'A private certificate authority for mutual TLS.' },
    servers: [{ url: '/' }],
  });
  app.route('/api/v1/reference', referenceRoutes());
  const publicUrl = deps.publicUrl ?? 'http://localhost:8080';
  app.route('/api/v1', apiRoutes({ authority: deps.authority, judge, metrics, publicUrl }));
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });

  app.route('/pki', pkiRoutes(deps.authority));
  app.route('/', opsRoutes({ authority: deps.authority, metrics }));
  app.route('/pki/crl', crlRoutes(deps.authority));
  app.route('/ocsp', ocspRoutes(deps.authority, countOcspAnswers(metrics)));
  app.route(
    '/',
    verifyRoutes({
      judge,
      metrics,
      source: proxySource(trustedProxies(deps.trustedProxies ?? []), (leaf) => judge.anvilIntermediatesFor(leaf)),
    }),
  );

  app.route('/enroll', enrollRoutes({ authority: deps.authority, publicUrl }));
  const acmeValidation = deps.acmeValidation ?? parseValidationSettings({});
  app.route('/acme', acmeRoutes({ authority: deps.authority, baseUrl: publicUrl, validator: validatorOf(acmeValidation) }));
  // EST's public half (cacerts, csrattrs); enrollment answers 403 here and works on the mTLS listener.
  app.route('/.well-known/est', estRoutes({ authority: deps.authority, judge, metrics, channel: 'http', source: () => ({ chain: [] }) }));
  app.route('/', uiRoutes({ authority: deps.authority, judge, publicUrl }));

  app.notFound((c) => problem(c, 404, 'not_found', `no route for ${c.req.method} ${c.req.path}`));
  app.onError(unlessClientAborted(mapError));

  // OCSP is the hottest public path: its plain requests are answered before the Hono app
  // (routes/pki/ocsp.ts says what that skips and what it keeps); the rest reach ocspRoutes above.
  const ocspFast = ocspFastPath({ authority: deps.authority, log: deps.log, onAnswer: countOcspAnswers(metrics) });
  const viaHono = app.fetch;
  app.fetch = (request, env, executionCtx) => ocspFast(request, env) ?? viaHono(request, env, executionCtx);
  return app;
}

export type App = ReturnType<typeof createApp>;
