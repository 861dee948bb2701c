/**
 * The application served on the mTLS listener: GET /verify (the judge, on the certificate of
 * this TLS connection), POST /api/v1/renew and EST enrollment (routes/est). Nothing else lives
 * here: the API, UI and /pki stay on the plain HTTP listener.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import type { Authority, JudgeService, ValidationSettings } from '@anvil/ca';
import type { AppEnv } from '../env.ts';
import type { Metrics } from '../metrics.ts';
import { databaseUnavailableCode } from '@anvil/db';
import { databaseUnavailableProblem, mapError, problem, problemAnswer } from '../problem.ts';
import { unlessClientAborted } from '../middleware/client-abort.ts';
import { requestLog } from '../middleware/request-log.ts';
import { securityHeaders, securityHeadersFor } from '../middleware/security-headers.ts';
import { renewRoutes } from './renew-route.ts';
import { estRoutes } from '../routes/est/index.ts';
import { acmeRoutes, hostBaseUrl, validatorOf } from '../routes/acme/index.ts';
import { answerVerify, verifyRoutes } from '../routes/judge/verify.ts';
import { tlsSocketSource, tlsSource } from './tls-source.ts';

export interface MtlsAppDeps {
  authority: Authority;
  judge: JudgeService;
  log: Logger;
  metrics?: Metrics;
  /** ACME on this listener (routes/acme): its URLs are https://<Host> for a Host among `hostnames` (ANVIL_HOSTNAMES). */
  acme?: { hostnames: string[]; validation: ValidationSettings };
}

const VERIFY_PATHS: ReadonlySet<string> = new Set(['/verify']);

export function createMtlsApp(deps: MtlsAppDeps) {
  const app = new Hono<AppEnv>();
  app.use('*', securityHeaders());
  // /verify is the judge's hot path (and the benchmark's): its access lines are debug.
  app.use(
    '*',
    requestLog({
      log: deps.log,
      bindings: { listener: 'mtls' },
      debugPaths: VERIFY_PATHS,
      clientAddress: (c) =>
        (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? null,
    }),
  );
  app.use(
    '/api/*',
    bodyLimit({ maxSize: 64 * 1024, onError: (c) => problem(c, 413, 'body_too_large', 'the request body exceeds 65536 bytes') }),
  );
  app.get('/', (c) => c.redirect('/verify'));
  app.route('/', verifyRoutes({ judge: deps.judge, metrics: deps.metrics, source: tlsSource }));
  app.route('/api/v1', renewRoutes(deps));
  app.route('/.well-known/est', estRoutes({ ...deps, channel: 'tls', source: tlsSource }));
  if (deps.acme)
    app.route(
      '/acme',
      acmeRoutes({ authority: deps.authority, baseUrl: hostBaseUrl(deps.acme.hostnames), validator: validatorOf(deps.acme.validation) }),
    );
  app.notFound((c) =>
    problem(
      c,
      404,
      'not_found',
      `no route for ${c.req.method} ${c.req.path} on the mTLS listener (GET /verify, POST /api/v1/renew, EST under /.well-known/est/<profile>/)`,
    ),
  );
  app.onError(unlessClientAborted(mapError));
  return app;
}

/**
 * The listener's request handler: GET /verify straight on Node's request and response, and
 * everything else through the Hono app. /verify is the judge's hot path — one new TLS
 * connection per call — and skipping the Request/Response adaptation, per-request logger and
 * request id there is worth about a tenth of a handshake. The answer is the same either way
 * (both go through answerVerify).
 */
export function createMtlsHandler(deps: MtlsAppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const app = createMtlsApp(deps);
  const viaHono = getRequestListener(app.fetch);
  return (req, res) => {
    const url = req.url ?? '/';
    if (req.method !== 'GET' || !(url === '/verify' || url.startsWith('/verify?'))) {
      void viaHono(req, res);
      return;
    }
    const query = url.length > 8 ? new URLSearchParams(url.slice(8)) : null;
    answerVerify(deps, {
      purpose: query?.get('purpose') ?? undefined,
      expect: query?.get('expect') ?? undefined,
      accept: req.headers.accept,
      source: () => tlsSocketSource(req.socket),
    }).then(
      (answer) => {
        // The same headers the Hono app's securityHeaders() adds (CSP and nosniff on the HTML verdict).
        res.writeHead(answer.status, {
          ...answer.headers,
          ...securityHeadersFor('/verify', answer.headers['content-type']),
          'content-length': Buffer.byteLength(answer.body),
        });
        res.end(answer.body);
      },
      (err) => {
        // The judge reads revocation status from the database: while it is unreachable, 503 as mapError answers.
        const dbCode = databaseUnavailableCode(err);
        if (dbCode) {
          deps.log.warn({ code: dbCode, listener: 'mtls' }, 'database unavailable');
          const answer = databaseUnavailableProblem();
          if (!res.headersSent) res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
          res.end(answer.body);
          return;
        }
        deps.log.error({ err }, 'GET /verify failed');
        const answer = problemAnswer(500, 'internal_error', 'an internal error occurred; it has been logged');
        if (!res.headersSent) res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      },
    );
  };
}
