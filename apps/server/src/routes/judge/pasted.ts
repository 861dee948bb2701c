/** POST /api/v1/judge: the judge on a pasted chain, and the request and verdict schemas of the API. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { REVOCATION_MODES, type JudgeService } from '@anvil/ca';
import { JUDGE_REASONS, JudgeInputError, MAX_PRESENTED, STRICT_RULES, STRICT_VERIFIERS } from '@anvil/pki';
import type { AppEnv } from '../../env.ts';
import type { Metrics } from '../../metrics.ts';
import { problem } from '../../problem.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses } from '../api/schemas.ts';
import { EXPECT_TYPES, JudgeInputProblem, parseExpectName, pemBlocksOf } from './input.ts';
import { countVerdict } from './verify.ts';

const CertificateInfoSchema = z
  .object({
    subject: z.string(),
    issuer: z.string(),
    serial: z.string(),
    notBefore: z.string(),
    notAfter: z.string(),
    sans: z.object({ dns: z.array(z.string()), ip: z.array(z.string()), uri: z.array(z.string()), email: z.array(z.string()) }),
    keyUsage: z.array(z.string()),
    extendedKeyUsage: z.array(z.string()),
    isCA: z.boolean(),
    fingerprintSha256: z.string(),
  })
  .openapi('CertificateInfo');

export const VerdictSchema = z
  .object({
    status: z.enum(['verified', 'failed', 'absent']),
    reason: z.enum(JUDGE_REASONS).nullable(),
    nginx: z.string().openapi({
      description: 'What nginx puts in $ssl_client_verify for the same chain, trust and CRLs',
      example: 'FAILED:unable to verify the first certificate',
    }),
    openssl: z
      .object({ code: z.number().int(), name: z.string(), depth: z.number().int() })
      .nullable()
      .openapi({ description: 'The first error `openssl verify` reports' }),
    haproxy: z
      .object({
        handshake: z.enum(['accepted', 'rejected']),
        handshakeIgnoringErrors: z.enum(['accepted', 'rejected']),
        ssl_c_used: z.boolean(),
        ssl_c_verify: z.number().int(),
        ssl_c_ca_err: z.number().int(),
        ssl_c_ca_err_depth: z.number().int(),
        ssl_c_err: z.number().int(),
      })
      .openapi({
        description:
          'What HAProxy 2.6 with `verify optional` does: whether the handshake completes, without and with `ca-ignore-err all crt-ignore-err all`, and its ssl_c_* fetches (readable with the ignore-err options)',
      }),
    kong: z.string().nullable().openapi({
      description: "The 401 message of Kong's mtls-auth plugin; null when the request would pass",
      example: 'TLS certificate failed verification',
    }),
    presented: z
      .array(CertificateInfoSchema)
      .openapi({ description: `The certificates presented, leaf first: at most the first ${MAX_PRESENTED}, all that the judge reads` }),
    presentedCount: z
      .number()
      .int()
      .openapi({
        description: `How many certificates were presented. Above ${MAX_PRESENTED}, the rest were not read, and the check presented_count and a hint say so`,
      }),
    path: z.array(CertificateInfoSchema).nullable(),
    revocation: z.object({
      checked: z.boolean(),
      source: z.string(),
      status: z.enum(['good', 'revoked', 'unknown']),
      reason: z.string().optional(),
      revokedAt: z.string().optional(),
    }),
    checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
    hints: z.array(z.string()),
    strict: z
      .object({
        status: z.enum(['verified', 'failed', 'absent']),
        reason: z.enum([...STRICT_RULES, 'malformed']).nullable(),
        checks: z.array(
          z.object({ name: z.enum(STRICT_RULES), ok: z.boolean(), detail: z.string(), refusedBy: z.array(z.enum(STRICT_VERIFIERS)) }),
        ),
        path: z.array(z.object({ subject: z.string(), issuer: z.string(), fingerprintSha256: z.string() })).nullable(),
        hint: z.string().nullable(),
      })
      .openapi({
        description:
          'RFC 5280 path validation (backtracking over every candidate issuer, no depth limit) plus the web-PKI rules of Go, rustls/webpki, Java, BoringSSL (Envoy) and pyca/cryptography; `hint` says which of them would refuse a chain nginx accepts',
      }),
  })
  .openapi('Verdict');

const JudgeBodySchema = z
  .object({
    chain: z
      .string()
      .max(256 * 1024)
      .openapi({ description: 'PEM certificates as the client sends them: leaf first, then intermediates (fullchain.pem)' }),
    trustAnchors: z
      .string()
      .max(256 * 1024)
      .optional()
      .openapi({ description: "PEM trusted roots (nginx ssl_client_certificate); default Anvil's roots" }),
    crls: z
      .string()
      .max(16 * 1024 * 1024)
      .optional()
      .openapi({ description: 'PEM CRLs (nginx ssl_crl): revocation is then checked for every certificate of the path' }),
    purpose: z.enum(['client', 'server']).default('client'),
    at: z.string().datetime({ offset: true }).optional().openapi({ description: 'Judge at this moment instead of now (ISO 8601)' }),
    expectName: z
      .union([z.string().max(2100), z.object({ type: z.enum(EXPECT_TYPES), value: z.string().max(2048) }).strict()])
      .optional()
      .openapi({
        description: '"dns:api.example.com", "uri:spiffe://…", "email:…", "ip:…", or {type, value}',
        example: 'dns:client1.example.com',
      }),
    revocation: z
      .enum(REVOCATION_MODES as [string, ...string[]])
      .default('auto')
      .openapi({
        description:
          "auto: Anvil's database for its own certificates plus the given crls; prefer: also fetch CRLs from the certificates' CRL distribution points; require: as prefer, and an unknown revocation status fails the verdict; off: no fetching",
      }),
    maxDepth: z.number().int().min(0).max(16).optional().openapi({ description: 'nginx ssl_verify_depth (default 3)' }),
  })
  .strict()
  .openapi('JudgeRequest');

/** The verdict as the API answers it (POST /api/v1/judge, GET /verify). */
export type VerdictBody = z.output<typeof VerdictSchema>;

/** POST /judge (mounted under /api/v1): the judge on a pasted chain. */
export function judgeRoutes(judge: JudgeService, metrics?: Metrics) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Judge a certificate chain as nginx (and openssl verify) would, and say how to fix it',
      security: [{ bearer: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: JudgeBodySchema } } } },
      responses: {
        200: { description: 'The verdict (also for chains that fail)', content: { 'application/json': { schema: VerdictSchema } } },
        ...problemResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      try {
        // Nothing pasted is nothing presented: absent / NONE, as GET /verify answers a client
        // that sends no certificate. Text without a PEM block is still refused (empty_chain).
        const chain = body.chain.trim() === '' ? [] : pemBlocksOf(body.chain, 'chain', 'chain');
        const trustAnchors = body.trustAnchors !== undefined ? pemBlocksOf(body.trustAnchors, 'trustAnchors', 'trust_anchors') : undefined;
        const crls = body.crls !== undefined ? pemBlocksOf(body.crls, 'crls', 'crls', 'crl') : undefined;
        const expectName = body.expectName !== undefined ? parseExpectName(body.expectName) : undefined;
        const verdict = await judge.judge(chain, {
          trustAnchors,
          crls,
          expectName,
          purpose: body.purpose as 'client' | 'server',
          at: body.at ? new Date(body.at) : undefined,
          revocation: body.revocation as (typeof REVOCATION_MODES)[number],
          maxDepth: body.maxDepth,
        });
        countVerdict(metrics, verdict);
        return c.json(verdict as z.infer<typeof VerdictSchema>, 200);
      } catch (e) {
        if (e instanceof JudgeInputProblem) return problem(c, e.status, e.code, e.message) as never;
        if (e instanceof JudgeInputError) {
          const code =
            e.code === 'malformed_anchor' ? 'malformed_trust_anchors' : e.code === 'malformed_crl' ? 'malformed_crls' : 'malformed_issuer';
          return problem(c, 422, code, e.message) as never;
        }
        throw e;
      }
    },
  );
  return app;
}
