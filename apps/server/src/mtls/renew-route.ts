/**
 * POST /api/v1/renew on the mTLS listener: the client authenticates with the certificate it
 * wants renewed, and sends a CSR for the new key (Anvil never stores private keys, so it cannot
 * reuse the old one). The new certificate has the same profile, issuer, subject and names, and
 * the same lifetime as the old one (capped by the profile).
 *
 * Body: the PEM CSR itself (application/pkcs10, application/x-pem-file, text/plain), or JSON
 * {"csr": "<PEM>"}. Answers 201 with the certificate as POST /api/v1/certificates does.
 */
import { Hono } from 'hono';
import type { Authority, JudgeService } from '@anvil/ca';
import type { AppEnv } from '../env.ts';
import { observeIssuance, type Metrics } from '../metrics.ts';
import { problem } from '../problem.ts';
import { certificateView } from '../routes/api/views.ts';
import { countVerdict } from '../routes/judge/verify.ts';
import { tlsSource } from './tls-source.ts';

export function renewRoutes(deps: { authority: Authority; judge: JudgeService; metrics?: Metrics }) {
  const { authority, judge } = deps;
  const app = new Hono<AppEnv>();
  app.post('/renew', async (c) => {
    const { chain } = tlsSource(c);
    if (chain.length === 0) {
      return problem(
        c,
        401,
        'client_certificate_required',
        'present the certificate to renew as the TLS client certificate (curl --cert fullchain.pem --key key.pem)',
      );
    }
    const verdict = await judge.judge(chain, { purpose: 'client', crls: 'anvil' });
    countVerdict(deps.metrics, verdict);
    if (verdict.status !== 'verified') {
      return problem(
        c,
        403,
        'certificate_not_accepted',
        `the presented certificate does not verify (${verdict.reason}): ${verdict.hints[0] ?? ''}`,
        { verdict },
      );
    }
    const owner = judge.anvilIssuerOf(chain[0]);
    if (!owner) return problem(c, 403, 'not_issued_by_anvil', 'only certificates this Anvil issued can be renewed here');

    let csr: string | undefined;
    const type = c.req.header('content-type') ?? '';
    const raw = await c.req.text();
    if (type.includes('json')) {
      try {
        const body = JSON.parse(raw) as { csr?: unknown };
        if (typeof body.csr === 'string') csr = body.csr;
      } catch {
        return problem(c, 400, 'malformed_json', 'the request body is not valid JSON');
      }
    } else if (raw.trim()) csr = raw;
    if (!csr)
      return problem(
        c,
        422,
        'csr_required',
        'send a PEM certificate request for the new key (the body, or JSON {"csr": "…"}); Anvil never keeps private keys, so it cannot reuse the old one',
      );

    // The verdict above may come from a cache; the authority decides again on the database row.
    const issued = await observeIssuance(
      deps.metrics,
      () => authority.renew({ issuerId: owner.issuer.record.id, serialHex: owner.serialHex, csr, source: c.get('clientAddress') ?? null }),
      (r) => ({ profile: r.record.profile, issuer: r.issuer.record.name }),
    );
    return c.json({ ...certificateView(authority, issued.record, new Date()), renewedFrom: issued.renewedFrom }, 201);
  });
  return app;
}
