/**
 * `anvil judge`: a TLS handshake with the mTLS listener presenting a certificate, then
 * GET /verify, which answers how that certificate was judged (DESIGN.md, "The judge").
 */
import { request } from 'node:https';
import { isIP } from 'node:net';
import type { Verdict as ServerVerdict } from '@anvil/server';
import { CliError } from './errors.ts';

/** The verdict GET /verify answers, typed from the server's VerdictSchema. */
export type Verdict = ServerVerdict;

/** https://host:8443 becomes https://host:8443/verify; an explicit path is kept. */
export function verifyUrl(target: string): URL {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new CliError(`"${target}" is not a URL (expected https://host:8443)`);
  }
  if (url.protocol !== 'https:') throw new CliError('the judge listens on TLS: use an https:// URL (the mTLS port, 8443 by default)');
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/verify';
  return url;
}

export function fetchVerdict(
  url: URL,
  tls: { cert?: string; key?: string; ca?: string; insecure?: boolean; timeoutMs?: number },
): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const req = request(
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json' },
        cert: tls.cert,
        key: tls.key,
        ca: tls.ca,
        rejectUnauthorized: !tls.insecure,
        servername: isIP(host) ? undefined : host,
        timeout: tls.timeoutMs ?? 30_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            const body = JSON.parse(text) as Verdict & { code?: string; detail?: string };
            if (body && typeof body.status === 'string' && 'nginx' in body) return resolve(body);
            if (body?.detail)
              return reject(new CliError(`the judge answered HTTP ${res.statusCode}: ${body.detail} (${body.code ?? 'no code'})`));
          } catch {
            // not JSON: below
          }
          reject(new CliError(`${url.origin} answered HTTP ${res.statusCode} without a verdict; is it Anvil's mTLS listener?`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (/certificate|self.signed|unable to verify|UNABLE_TO|CERT_/i.test(`${err.code} ${err.message}`)) {
        reject(
          new CliError(
            `the server's own certificate at ${url.host} is not trusted: ${err.message}`,
            1,
            'pass --cacert with the trust bundle (GET /pki/trust-bundle.pem), or --insecure to skip this check',
          ),
        );
        return;
      }
      reject(
        new CliError(
          `cannot reach the judge at ${url.origin}: ${err.code ?? err.message}`,
          1,
          'check the URL and that the mTLS listener runs (ANVIL_MTLS_PORT, 8443 by default)',
        ),
      );
    });
    req.end();
  });
}

const mark = (ok: boolean) => (ok ? '[ok]  ' : '[FAIL]');

/** The verdict in words, most important first. */
export function formatVerdict(v: Verdict): string {
  const out: string[] = [];
  const head =
    v.status === 'verified'
      ? 'VERIFIED'
      : v.status === 'absent'
        ? 'ABSENT (no client certificate was presented)'
        : `FAILED: ${v.reason ?? 'unknown reason'}`;
  out.push(`verdict:    ${head}`);
  out.push(`nginx:      ${v.nginx}   (what $ssl_client_verify would say)`);
  if (v.openssl) out.push(`openssl:    ${v.openssl.name} (${v.openssl.code}) at depth ${v.openssl.depth}`);
  if (v.presented?.length) {
    out.push('presented:');
    v.presented.forEach((c, i) => {
      out.push(`  [${i}] ${c.subject}`);
      out.push(`      issuer ${c.issuer}; serial ${c.serial}`);
      out.push(`      valid ${c.notBefore} .. ${c.notAfter}${c.isCA ? '; CA' : ''}`);
    });
  }
  if (v.path?.length) out.push(`path:       ${v.path.map((p) => p.subject).join('  ->  ')}`);
  if (v.revocation) {
    const r = v.revocation;
    out.push(
      `revocation: ${r.checked ? `checked via ${r.source ?? '?'}: ${r.status ?? '?'}` : `not checked${r.status ? ` (${r.status})` : ''}`}` +
        `${r.reason ? `, reason ${r.reason}` : ''}${r.revokedAt ? `, revoked at ${r.revokedAt}` : ''}`,
    );
  }
  if (v.checks?.length) {
    out.push('checks:');
    for (const c of v.checks) out.push(`  ${mark(c.ok)} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
  }
  if (v.hints?.length) {
    out.push('hints:');
    for (const h of v.hints) out.push(`  - ${h}`);
  }
  return out.join('\n');
}
