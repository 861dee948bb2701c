/**
 * The authenticated JSON API (mounted at /api/v1): bearer-token authentication as middleware on
 * this sub-app, then one sub-app per resource, each owning its relative paths. The public parts
 * under /api/v1 (openapi.json, the reference page) are mounted by app.ts outside this sub-app.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { ROUTE_SCOPES, type Authority, type JudgeService } from '@anvil/ca';
import type { AppEnv } from '../../env.ts';
import { countRevocations, type Metrics } from '../../metrics.ts';
import { bearerAuth } from '../../middleware/auth.ts';
import { requireScope } from '../../middleware/scope.ts';
import { validationHook } from '../../validation.ts';
import { judgeRoutes } from '../judge/pasted.ts';
import { acmeEabRoutes } from './acme-eab.ts';
import { auditRoutes } from './audit.ts';
import { backupRoutes } from './backup.ts';
import { certificateRoutes } from './certificates.ts';
import { downloadRoutes } from './downloads.ts';
import { gatewayRoutes } from './gateway.ts';
import { invitationRoutes } from './invitations.ts';
import { issuerRoutes } from './issuers.ts';
import { profileRoutes } from './profiles.ts';
import { revocationRoutes } from './revocation.ts';
import { tokenRoutes } from './tokens.ts';

export function apiRoutes(deps: { authority: Authority; judge: JudgeService; metrics: Metrics; publicUrl: string }) {
  const { authority, metrics } = deps;
  const api = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  api.use('*', bearerAuth(authority));
  const revocation = revocationRoutes(
    authority,
    countRevocations(metrics, (id) => authority.issuerById(id).record.name),
  );
  api.route('/certificates', revocation.certificates);
  api.route('/issuers', revocation.issuers);
  api.route('/certificates', certificateRoutes(authority, metrics));
  api.route('/certificates', downloadRoutes(authority));
  api.route('/profiles', profileRoutes(authority));
  api.route('/issuers', backupRoutes(authority));
  api.route('/issuers', issuerRoutes(authority));
  api.route('/issuers', gatewayRoutes(authority));
  api.route('/audit', auditRoutes(authority));
  api.use('/judge', requireScope(ROUTE_SCOPES['POST /judge']));
  api.use('/judge/*', requireScope(ROUTE_SCOPES['POST /judge']));
  api.route('/judge', judgeRoutes(deps.judge, metrics));
  api.route('/tokens', tokenRoutes(authority));
  api.route('/invitations', invitationRoutes(authority, deps.publicUrl));
  api.route('/acme/eab', acmeEabRoutes(authority));
  return api;
}
