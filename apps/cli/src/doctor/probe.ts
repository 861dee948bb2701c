/**
 * What the server shows a client that presents no certificate: its certificate chain and how
 * it verifies (Node's `tls.connect`), and whether it sent a CertificateRequest with which CA
 * names (`openssl s_client`).
 *
 * Why two tools: Node has no hook on the CertificateRequest message (a `cert` callback or
 * 'keylog' does not reveal it, and the CA names are not exposed at all), while `openssl
 * s_client` prints "Acceptable client certificate CA names" / "No client certificate CA names
 * sent" and "Requested Signature Algorithms" (the latter only when a CertificateRequest came).
 * Trust, though, is judged by Node, the runtime the user's clients most likely share.
 *
 * Neither probe is given the private key, with one exception: a TLS 1.2 server that requires a
 * certificate aborts a handshake without one before Node shows its certificate, so that probe
 * is repeated with the user's certificate; `tls.connect` signs with the key and never sends it.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { pemToDerList } from '@anvil/pki';
import { CliError } from '../errors.ts';
import { alertOf, ALERTS } from './alerts.ts';
import type { Target } from './target.ts';

/** Exit status of `anvil doctor` when the server cannot be reached at all. */
export const UNREACHABLE = 3;

export interface ServerProbe {
  /** The verified-or-not chain Node saw, leaf first (DER). */
  chain: X509Certificate[];
  peer: PeerCertificate;
  authorized: boolean;
  authorizationError: string | null;
  protocol: string | null;
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listens on that port)',
  ENOTFOUND: 'no such host (DNS lookup failed)',
  EAI_AGAIN: 'the DNS lookup failed (temporary failure)',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'the connection was reset before the TLS handshake ended',
};

export function unreachable(target: Target, err: NodeJS.ErrnoException): CliError {
  const words = (err.code && NETWORK_WORDS[err.code]) || err.message;
  return new CliError(`cannot reach ${target.host}:${target.port}: ${words}`, UNREACHABLE);
}

export function tlsOptions(target: Target, ca: string | undefined) {
  return {
    host: target.host,
    port: target.port,
    servername: target.servername,
    ca,
    // Verification is judged from `authorized` / `authorizationError`, so a bad server
    // certificate is reported rather than ending the session.
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
  };
}

/** The server ended the handshake with an alert before it completed (TLS 1.2 servers do so when they require a certificate). */
export class HandshakeRefused extends Error {}

/** OpenSSL's reason ("wrong version number") without its error-stack prefix and source path. */
function tlsWords(message: string): string {
  if (/wrong version number|packet length too long|http request/i.test(message))
    return 'the port does not speak TLS (plain HTTP, or another protocol)';
  return /routines:[^:]*:([^:]+)/.exec(message)?.[1] ?? message;
}

/**
 * Connects without a client certificate, or with `client` when the server refused to finish
 * without one; a network failure throws CliError with exit 3, an alert HandshakeRefused.
 */
export function probeServer(
  target: Target,
  ca: string | undefined,
  client?: { cert: string; key: string },
  timeoutMs = 10_000,
): Promise<ServerProbe> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ ...tlsOptions(target, ca), ...client });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(unreachable(target, Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate(true);
      resolve({
        chain: chainOf(peer),
        peer,
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
        protocol: socket.getProtocol(),
      });
      socket.destroy();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const alert = alertOf(err);
      if (err.code && NETWORK_WORDS[err.code]) reject(unreachable(target, err));
      else if (alert !== null)
        reject(new HandshakeRefused(`the server ended the handshake with the alert ${ALERTS[alert]?.name ?? alert} (${alert})`));
      else
        reject(
          new CliError(
            `TLS with ${target.host}:${target.port} failed before any certificate was seen: ${tlsWords(err.message)}`,
            UNREACHABLE,
          ),
        );
    });
  });
}

/** Node links the chain through `issuerCertificate`, the last one pointing at itself. */
function chainOf(peer: PeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let c = peer as PeerCertificate & { issuerCertificate?: PeerCertificate };
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new X509Certificate(c.raw));
    c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate as typeof c;
  }
  return out;
}

export interface CertificateRequestProbe {
  /** Whether the server sent a CertificateRequest at all. */
  requested: boolean;
  /** The acceptable CA names it listed, as OpenSSL prints them ("O = Acme, CN = Acme Root"). */
  caNames: string[];
  /** The certificates the server itself sent, leaf first, exactly as sent. */
  sent: X509Certificate[];
}

/** Runs `openssl s_client`; null when openssl is missing or printed nothing usable. */
export function probeCertificateRequest(target: Target): CertificateRequestProbe | null {
  const hostPort = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  const r = spawnSync(
    'openssl',
    ['s_client', '-connect', hostPort, ...(target.servername ? ['-servername', target.servername] : ['-noservername']), '-showcerts'],
    { input: '', encoding: 'utf8', timeout: 15_000 },
  );
  if (r.error || !r.stdout) return null;
  return parseSClient(r.stdout);
}

export function parseSClient(out: string): CertificateRequestProbe | null {
  if (!out.includes('Certificate chain') && !out.includes('Server certificate')) return null;
  const lines = out.split('\n');
  const caNames: string[] = [];
  const at = lines.findIndex((l) => l.startsWith('Acceptable client certificate CA names'));
  if (at >= 0) {
    for (const l of lines.slice(at + 1)) {
      if (!l.trim() || l.startsWith('---') || /^(Requested|Shared|Client Certificate Types|Peer)/.test(l)) break;
      caNames.push(l.trim());
    }
  }
  const requested =
    at >= 0 || lines.some((l) => l.startsWith('Requested Signature Algorithms') || l.startsWith('Client Certificate Types'));
  const chainText = out.slice(0, out.indexOf('Server certificate') >= 0 ? out.indexOf('Server certificate') : out.length);
  let sent: X509Certificate[] = [];
  try {
    sent = pemToDerList(chainText, ['CERTIFICATE']).map((der) => new X509Certificate(der));
  } catch {
    sent = [];
  }
  return { requested, caNames, sent };
}
