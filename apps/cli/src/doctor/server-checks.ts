/** The server side: does its certificate verify against --cacert or Node's public CA list, match the host, come with its chain, carry serverAuth. */
import type { X509Certificate } from 'node:crypto';
import { checkServerIdentity } from 'node:tls';
import { describeCertificate } from '@anvil/pki';
import { type Check, fail, pass } from './checks.ts';
import { canonicalName, oneLine } from './names.ts';
import type { ServerProbe } from './probe.ts';
import type { Target } from './target.ts';

/** OpenSSL verify errors that mean "an intermediate is missing" rather than "the wrong CA". */
const MISSING_ISSUER = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT']);

export function serverChecks(
  target: Target,
  probe: ServerProbe,
  sent: X509Certificate[] | null,
  trust: 'file' | 'system',
  now = new Date(),
): Check[] {
  const checks: Check[] = [];
  const leaf = probe.chain[0];
  if (!leaf) return [fail('server.certificate', 'server', 'the server sent no certificate', 'configure a server certificate')];
  checks.push(
    pass('server.certificate', 'server', `${oneLine(leaf.subject)}, issued by ${oneLine(leaf.issuer)} (${probe.protocol ?? 'TLS'})`),
  );

  const trustWords = trust === 'file' ? 'the --cacert file' : "the default trust (Node's public CA list)";
  const sentCount = sent?.length;
  const sentWords = sentCount === undefined ? '' : ` (the server sent ${sentCount} certificate${sentCount === 1 ? '' : 's'})`;
  // Node reports a host name mismatch in authorizationError too; server.name below says it.
  const verifyError = probe.authorizationError === 'ERR_TLS_CERT_ALTNAME_INVALID' ? null : probe.authorizationError;
  const verified = probe.authorized || verifyError === null;
  if (verified) checks.push(pass('server.trust', 'server', `verifies against ${trustWords}`));
  else if (MISSING_ISSUER.has(verifyError!))
    checks.push(
      fail(
        'server.chain',
        'server',
        `server chain incomplete: the server does not send the intermediate CA certificate that issued its certificate (${oneLine(leaf.issuer)})${sentWords}`,
        'on the server, configure the full chain (leaf then intermediates): nginx ssl_certificate fullchain.pem, HAProxy crt with the chain in the same PEM',
      ),
    );
  else
    checks.push(
      fail(
        'server.trust',
        'server',
        `does not verify against ${trustWords}: ${verifyError}`,
        trust === 'file'
          ? 'pass the CA that issued the server certificate with --cacert'
          : 'pass the private CA of this server with --cacert, or give the server a certificate from a public CA',
      ),
    );
  if (verified || !MISSING_ISSUER.has(verifyError!)) {
    // A chain that verifies only because the trust file holds the intermediate still breaks other clients.
    if (sent && sent.length === 1 && canonicalName(leaf.subject) !== canonicalName(leaf.issuer) && probe.chain.length > 2)
      checks.push(
        fail(
          'server.chain',
          'server',
          'the server sends only its own certificate, without intermediates: it verifies here only because the trust holds the intermediate',
          'configure the full chain on the server',
          'warning',
        ),
      );
    else checks.push(pass('server.chain', 'server', `chain complete${sentWords}`));
  }

  const nameError = checkServerIdentity(target.host, probe.peer);
  if (!nameError) checks.push(pass('server.name', 'server', `the certificate names ${target.host}`));
  else
    checks.push(
      fail(
        'server.name',
        'server',
        `host name mismatch: the certificate is for ${probe.peer.subjectaltname || oneLine(leaf.subject)}, not ${target.host}`,
        `give the server a certificate whose SAN includes ${target.host}, or connect by one of the names it has`,
      ),
    );

  const eku = describeCertificate(new Uint8Array(leaf.raw)).extendedKeyUsage;
  if (eku.length === 0 || eku.includes('serverAuth'))
    checks.push(pass('server.eku', 'server', eku.length ? 'extended key usage has serverAuth' : 'no extended key usage: any purpose'));
  else
    checks.push(
      fail(
        'server.eku',
        'server',
        `the server certificate lacks serverAuth (EKU ${eku.join(', ')})`,
        'issue the server a certificate with EKU serverAuth (Anvil profile "server")',
      ),
    );

  if (now > new Date(leaf.validTo))
    checks.push(
      fail(
        'server.validity',
        'server',
        `the server certificate expired on ${new Date(leaf.validTo).toISOString()}`,
        'renew the server certificate',
      ),
    );
  else if (now < new Date(leaf.validFrom))
    checks.push(fail('server.validity', 'server', 'the server certificate is not valid yet', 'check the clocks'));
  return checks;
}
