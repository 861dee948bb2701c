/**
 * The troubleshooting workflow, in order: the client certificate locally, the server as any
 * client sees it, whether it asks for a client certificate, then the real handshake and the
 * application's answer. The result is data (checks plus a diagnosis); report.ts prints it.
 */
import { acceptableCaCheck, readClientMaterial, revocationCheck } from './client-checks.ts';
import { type Area, type Check, fail, isProblem, pass } from './checks.ts';
import { attempt, type HandshakeOutcome, type HttpAnswer } from './handshake.ts';
import { HandshakeRefused, probeCertificateRequest, probeServer, type ServerProbe } from './probe.ts';
import { serverChecks } from './server-checks.ts';
import type { Target } from './target.ts';

export interface DoctorInput {
  target: Target;
  cert: string;
  key: string;
  /** Trust for the server's certificate; the system trust when absent. */
  ca?: string;
  expectClientId?: string;
  now?: Date;
}

export interface DoctorReport {
  url: string;
  ok: boolean;
  /** The causes, most fundamental first, in plain words. */
  diagnosis: string[];
  checks: Check[];
  acceptableCaNames: string[] | null;
  outcome: HandshakeOutcome;
}

/** Exit status when a problem was found (0: none; 1: usage; 3: unreachable). */
export const PROBLEM_FOUND = 2;

const CLIENT_HEADER = /^(x-ssl-client|x-client|ssl-client|x-forwarded-client-cert)/;

export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const { target } = input;
  const local = readClientMaterial(input.cert, input.key, input.now);
  const checks: Check[] = [...local.checks];

  const usable = local.checks.every((c) => c.ok || (c.id !== 'client.key' && c.id !== 'client.read'));
  const probe = await probeWithFallback(target, input, usable);
  const sclient = probeCertificateRequest(target);
  if ('refused' in probe)
    checks.push(
      fail(
        'server.certificate',
        'server',
        `${probe.refused} before it completed, so its certificate could not be checked`,
        undefined,
        'warning',
      ),
    );
  else checks.push(...serverChecks(target, probe, sclient?.sent ?? null, input.ca ? 'file' : 'system', input.now));

  if (!sclient)
    checks.push(
      fail(
        'request.certificate_request',
        'request',
        'could not run openssl s_client, so whether the server asks for a client certificate is unknown',
        'install openssl',
        'warning',
      ),
    );
  else if (!sclient.requested)
    checks.push(
      fail(
        'request.certificate_request',
        'request',
        `the server did not ask for a client certificate (no CertificateRequest): mTLS is not enabled on this host, port or SNI name${target.servername ? ` (${target.servername})` : ''}, or a proxy in front of it terminates TLS`,
        'enable client certificates on this listener (nginx: ssl_verify_client on + ssl_client_certificate; HAProxy: ca-file + verify required on the bind line), or connect to the host, port or name where mTLS is on',
      ),
    );
  else {
    checks.push(
      pass(
        'request.certificate_request',
        'request',
        sclient.caNames.length
          ? `the server asks for a client certificate and accepts these CAs: ${sclient.caNames.join('; ')}`
          : 'the server asks for a client certificate and names no CAs',
      ),
    );
    if (sclient.caNames.length && local.chain.length) checks.push(acceptableCaCheck(local.chain, sclient.caNames));
  }

  const revocation = await revocationCheck(local.chain);
  if (revocation) checks.push(revocation);

  const outcome: HandshakeOutcome = usable
    ? await attempt(target, { cert: input.cert, key: input.key, ca: input.ca })
    : { kind: 'not_attempted', message: 'the certificate and key cannot make a handshake (see above)' };
  checks.push(...outcomeChecks(outcome, sclient?.requested ?? true));
  if (outcome.kind === 'answered') checks.push(...identityChecks(outcome.http, input.expectClientId));

  const diagnosis = diagnose(checks, outcome);
  return {
    url: target.url,
    ok: !checks.some(isProblem),
    diagnosis,
    checks,
    acceptableCaNames: sclient ? (sclient.requested ? sclient.caNames : []) : null,
    outcome,
  };
}

/** A TLS 1.2 server that requires a certificate aborts a handshake without one: then try again with the user's. */
async function probeWithFallback(target: Target, input: DoctorInput, usable: boolean): Promise<ServerProbe | { refused: string }> {
  try {
    return await probeServer(target, input.ca);
  } catch (err) {
    if (!(err instanceof HandshakeRefused)) throw err;
    if (!usable) return { refused: err.message };
    try {
      return await probeServer(target, input.ca, { cert: input.cert, key: input.key });
    } catch (again) {
      if (!(again instanceof HandshakeRefused)) throw again;
      return { refused: again.message };
    }
  }
}

function outcomeChecks(outcome: HandshakeOutcome, requested: boolean): Check[] {
  if (outcome.kind === 'alert')
    return [
      fail(
        'handshake.alert',
        'handshake',
        `the server refused the certificate with the TLS alert ${outcome.name} (${outcome.alert})${outcome.afterHandshake ? ' on the first read after the handshake' : ' during the handshake'}: ${outcome.meaning}`,
        "see the failed checks of your certificate above; the alert is the server's word for the same cause",
      ),
    ];
  if (outcome.kind === 'not_attempted')
    return [
      fail(
        'handshake.not_attempted',
        'handshake',
        `no handshake with your certificate was tried: ${outcome.message}`,
        undefined,
        'warning',
      ),
    ];
  if (outcome.kind === 'closed')
    return [
      fail(
        'handshake.closed',
        'handshake',
        `the connection ended without an answer (${outcome.afterHandshake ? 'after' : 'during'} the handshake): ${outcome.message}`,
        "read the server's error log: it refused without saying why",
      ),
    ];
  const { http } = outcome;
  const checks: Check[] = [
    pass(
      'handshake.accepted',
      'handshake',
      requested
        ? 'TLS accepted: the handshake with your certificate completed'
        : 'TLS accepted (the certificate was not asked for, so it was not sent)',
    ),
  ];
  const said = http.body.trim() ? `: ${JSON.stringify(http.body.trim().slice(0, 200))}` : '';
  if (/SSL certificate error/i.test(http.body) || http.status === 495)
    checks.push(
      fail(
        'application.refused',
        'application',
        `nginx refused the certificate after the handshake: HTTP ${http.status} "The SSL certificate error" (ssl_verify_client: it did not verify against ssl_client_certificate, ssl_crl or ssl_verify_depth)`,
        'the failed checks above say why; nginx\'s error log names it ("client SSL certificate verify error")',
      ),
    );
  else if (/No required SSL certificate was sent/i.test(http.body) || http.status === 496)
    checks.push(
      fail(
        'application.refused',
        'application',
        `nginx required a client certificate and received none: HTTP ${http.status}`,
        'pass --cert and --key; if you did, the certificate was not sent (check the acceptable CA names above)',
      ),
    );
  else if (http.status === 401 || http.status === 403 || http.status === 400)
    checks.push(
      fail(
        'application.refused',
        'application',
        `accepted at TLS, refused by the application: HTTP ${http.status} ${http.reason}${said}`,
        'TLS is fine; the application does not accept this client (its identity mapping, an allow list, or the proxy headers it expects)',
      ),
    );
  else if (http.status >= 400)
    checks.push(fail('application.status', 'application', `HTTP ${http.status} ${http.reason}${said}`, undefined, 'warning'));
  else checks.push(pass('application.status', 'application', `HTTP ${http.status} ${http.reason}${said}`));
  return checks;
}

function identityChecks(http: HttpAnswer, expect: string | undefined): Check[] {
  const headers = Object.entries(http.headers).filter(([k]) => CLIENT_HEADER.test(k));
  const checks: Check[] = headers.length
    ? [pass('application.client_headers', 'application', `client certificate headers: ${headers.map(([k, v]) => `${k}: ${v}`).join('; ')}`)]
    : [];
  if (expect === undefined) return checks;
  const seen = [http.body, ...headers.map(([, v]) => v)].some((t) => t.includes(expect));
  checks.push(
    seen
      ? pass('application.client_id', 'application', `the application sees you as ${JSON.stringify(expect)}`)
      : fail(
          'application.client_id',
          'application',
          `the application's answer does not contain ${JSON.stringify(expect)} (neither the body nor the client certificate headers)`,
          'check which certificate the application maps to which client (CN, SAN), and that a proxy in front passes the certificate on',
        ),
  );
  return checks;
}

const PRIORITY: Area[] = ['request', 'client', 'server', 'handshake', 'application'];

function diagnose(checks: Check[], outcome: HandshakeOutcome): string[] {
  const problems = checks.filter(isProblem).sort((a, b) => PRIORITY.indexOf(a.area) - PRIORITY.indexOf(b.area));
  if (problems.length === 0) return ['all checks passed: the server asked for a client certificate, accepted yours and answered'];
  const lines = problems.map((c) => c.finding);
  // Only a refusal of the certificate itself (an alert, a dropped connection, nginx's 400) points at revocation or trust.
  const refused =
    (outcome.kind !== 'answered' && outcome.kind !== 'not_attempted') || checks.some((c) => c.id === 'application.certificate_refused');
  const localCause = problems.some((c) => c.area === 'client');
  if (refused && !localCause)
    lines.push(
      'every local check of your certificate passed, so the server refused it for a reason only it can see: revocation (its CRL or OCSP), a client CA file without your CA, or a verify depth too small; read its error log',
    );
  return lines;
}
