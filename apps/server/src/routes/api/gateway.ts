/**
 * GET /api/v1/issuers/{name}/gateway/{kind}: a ready gateway configuration (nginx, HAProxy, Envoy,
 * Kong, Caddy, Traefik) that verifies client certificates of that issuer, with the files it reads
 * and the lines that download them. JSON by default; `?format=text` answers the bare configuration.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { type Authority, CaError } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { GATEWAY_DIR, GATEWAY_KINDS, gatewayConfig, gatewayInput, isGatewayKind } from '../../gateway/index.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses } from './schemas.ts';

const GatewayConfigSchema = z
  .object({
    kind: z.string(),
    issuer: z.string(),
    configName: z.string().openapi({ description: 'Suggested file name of the configuration' }),
    config: z.string(),
    files: z.array(
      z.object({
        name: z.string(),
        path: z.string().openapi({ description: 'Where the configuration expects the file (dir + name)' }),
        url: z.string().nullable().openapi({ description: 'Public download URL; null for the gateway’s own server certificate and key' }),
        description: z.string(),
      }),
    ),
    download: z.string().openapi({ description: 'Shell lines that download (and refresh) every file with a URL' }),
    apply: z.string().optional().openapi({ description: 'Commands that load the configuration into a running gateway (Kong Admin API)' }),
    depth: z.number().int().openapi({ description: 'Verify depth: the CAs from the leaf’s issuer up to the root' }),
    notes: z.array(z.string()),
    testedWithBinary: z.boolean().openapi({ description: 'Whether Anvil’s tests start the real gateway with this configuration' }),
  })
  .openapi('GatewayConfig');

/** /issuers/{name}/gateway/{kind} (mounted under /api/v1/issuers): any valid token may read it. */
export function gatewayRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/{name}/gateway/{kind}',
      summary: 'Gateway configuration that verifies client certificates of an issuer',
      description: `Kinds: ${GATEWAY_KINDS.join(', ')}. Unknown kinds answer 404 unknown_gateway_kind, unknown issuers 404 unknown_issuer.`,
      security: [{ bearer: [] }],
      request: {
        params: z.object({ name: z.string().max(64), kind: z.string().max(32) }),
        query: z.object({
          format: z.enum(['json', 'text']).default('json').openapi({ description: 'text: the bare configuration as text/plain' }),
          dir: z
            .string()
            .regex(GATEWAY_DIR, 'an absolute path of letters, digits, ".", "_", "-" and "/"')
            .optional()
            .openapi({ description: 'Directory on the gateway host holding the files (default /etc/anvil/{name})' }),
        }),
      },
      responses: {
        200: {
          description: 'The configuration',
          content: { 'application/json': { schema: GatewayConfigSchema }, 'text/plain': { schema: z.string() } },
        },
        ...problemResponses,
      },
    }),
    (c) => {
      const { name, kind } = c.req.valid('param');
      const { format, dir } = c.req.valid('query');
      if (!isGatewayKind(kind)) {
        throw new CaError('not_found', 'unknown_gateway_kind', `no gateway kind "${kind}"; known kinds: ${GATEWAY_KINDS.join(', ')}`, {
          kinds: GATEWAY_KINDS,
        });
      }
      const generated = gatewayConfig(kind, gatewayInput(authority, authority.issuerByName(name), dir));
      if (format === 'text') return c.text(generated.config, 200, { 'content-type': 'text/plain; charset=utf-8' });
      return c.json(generated, 200);
    },
  );
  return app;
}
