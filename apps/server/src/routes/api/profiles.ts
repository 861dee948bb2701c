/** /api/v1/profiles: list, read, create and update certificate profiles. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { parseTtl, type Authority, type Profile, type ProfilePolicy } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { PolicySchema, ProfileSchema, problemResponses } from './schemas.ts';

const NameParam = z.object({
  name: z
    .string()
    .max(64)
    .openapi({ param: { name: 'name', in: 'path' } }),
});
const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });

function toPolicy(input: z.infer<typeof PolicySchema>): ProfilePolicy {
  return { ...input, defaultTtl: parseTtl(input.defaultTtl), maxTtl: parseTtl(input.maxTtl) };
}

function view(p: Profile) {
  return { name: p.name, kind: p.kind, builtin: p.builtin, policy: p.policy };
}

/** /profiles (mounted under /api/v1): reading profiles, and changing them with an admin token. */
export function profileRoutes(authority: Authority) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const admin = requireScope('admin');
  app.use('*', async (c, next) => (c.req.method === 'GET' ? next() : admin(c, next)));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List profiles',
      security: [{ bearer: [] }],
      responses: { 200: { description: 'Profiles', ...json(z.object({ items: z.array(ProfileSchema) })) }, ...problemResponses },
    }),
    async (c) => c.json({ items: (await authority.listProfiles()).map(view) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{name}',
      summary: 'One profile',
      security: [{ bearer: [] }],
      request: { params: NameParam },
      responses: { 200: { description: 'The profile', ...json(ProfileSchema) }, ...problemResponses },
    }),
    async (c) => c.json(view(await authority.profile(c.req.valid('param').name)), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Create a profile (admin)',
      security: [{ bearer: [] }],
      request: { body: { content: { 'application/json': { schema: ProfileSchema.omit({ builtin: true }).strict() } }, required: true } },
      responses: { 201: { description: 'Created', ...json(ProfileSchema) }, ...problemResponses },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const saved = await authority.saveProfile(
        { name: body.name, kind: body.kind, policy: toPolicy(body.policy) },
        'create',
        c.get('actor'),
      );
      return c.json(view(saved), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/{name}',
      summary: 'Replace a profile policy (admin)',
      security: [{ bearer: [] }],
      request: {
        params: NameParam,
        body: {
          content: {
            'application/json': { schema: z.object({ kind: z.enum(['server', 'client', 'peer']), policy: PolicySchema }).strict() },
          },
          required: true,
        },
      },
      responses: { 200: { description: 'Updated', ...json(ProfileSchema) }, ...problemResponses },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const saved = await authority.saveProfile(
        { name: c.req.valid('param').name, kind: body.kind, policy: toPolicy(body.policy) },
        'update',
        c.get('actor'),
      );
      return c.json(view(saved), 200);
    },
  );
  return app;
}
