/** POST /api/v1/issuers/backup: the encrypted backup of every software CA key (admin only, audited); restored by a server's first start. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { type Authority, ROUTE_SCOPES } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { problemResponses } from './schemas.ts';

const BackupIssuerSchema = z.object({
  name: z.string(),
  kind: z.enum(['root', 'intermediate']),
  parent: z.string().nullable(),
  keyAlgorithm: z.string(),
  subject: z.string(),
  serial: z.string(),
  subjectKeyId: z.string(),
  notBefore: z.string(),
  notAfter: z.string(),
  certificate: z.string(),
  externalChain: z.string().nullable().optional(),
  privateKey: z
    .string()
    .nullable()
    .openapi({ description: 'ENCRYPTED PRIVATE KEY PEM (PKCS#8, PBKDF2 + AES-256-CBC); null for a token key' }),
  keyRef: z.string().nullable(),
});

const BackupSchema = z
  .object({ format: z.literal('anvil-ca-backup'), version: z.literal(1), createdAt: z.string(), issuers: z.array(BackupIssuerSchema) })
  .openapi('KeyBackup');

export function backupRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/backup', requireScope(ROUTE_SCOPES['POST /issuers/backup']));
  app.openapi(
    createRoute({
      method: 'post',
      path: '/backup',
      summary: 'Export an encrypted backup of the CA keys (admin)',
      description:
        'Every software CA key as encrypted PKCS#8 under the passphrase (at least 12 characters), with the issuer certificates. Keys on a PKCS#11 token are listed by reference only. `anvil ca export` calls this; `anvil ca import` prepares a restore.',
      security: [{ bearer: [] }],
      request: {
        body: {
          required: true,
          // The length rule is enforced by the authority, so its refusal carries the code `weak_passphrase`.
          content: { 'application/json': { schema: z.object({ passphrase: z.string().max(1024) }).strict() } },
        },
      },
      responses: { 200: { description: 'The backup', content: { 'application/json': { schema: BackupSchema } } }, ...problemResponses },
    }),
    async (c) => {
      const backup = await authority.exportKeyBackup(c.req.valid('json').passphrase, c.get('actor'));
      c.header('Content-Disposition', `attachment; filename="anvil-ca-backup-${backup.createdAt.slice(0, 10)}.json"`);
      return c.json(backup, 200);
    },
  );
  return app;
}
