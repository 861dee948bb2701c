/**
 * Where the mTLS listener's GET /verify and POST /api/v1/renew get the presented chain: the
 * client certificates of this TLS connection, as the client sent them.
 */
import type { TLSSocket } from 'node:tls';
import type { ChainSource, PresentedChain } from '../routes/judge/verify.ts';

const presentedBySocket = new WeakMap<TLSSocket, Uint8Array[]>();

/**
 * A bound on walking the received chain, against surprises only: OpenSSL already refuses a
 * Certificate message over 100 KiB (SSL_MAX_CERT_LIST_DEFAULT), and the judge itself reads the
 * first MAX_PRESENTED of what is read here — but counts them all, so the verdict can say how
 * many the client sent (presentedCount) and that the rest were not read.
 */
const TLS_CHAIN_WALK_LIMIT = 1024;

/**
 * The chain the client sent in the TLS handshake, in its order. Not getPeerCertificate(true):
 * Node builds that by following issuers, dropping sent certificates that do not chain and
 * appending issuers found in the server's own CA store (SSL_CTX cert store), so a client that
 * sent leaf + intermediate would look as if it had sent the root too. getPeerX509Certificate()
 * walks SSL_get_peer_cert_chain as received (issuerCertificate = the next certificate sent) —
 * but it consumes that stack (Node 20 sk_X509_delete()s each certificate it wraps), so a second
 * call on the same connection sees the leaf alone. Read it once per connection and keep it:
 * keep-alive requests on one connection must all be judged on the same chain.
 */
export function tlsPresentedChain(socket: TLSSocket): Uint8Array[] {
  const known = presentedBySocket.get(socket);
  if (known) return known;
  const out: Uint8Array[] = [];
  let cert = socket.getPeerX509Certificate();
  while (cert && out.length < TLS_CHAIN_WALK_LIMIT) {
    out.push(new Uint8Array(cert.raw));
    cert = cert.issuerCertificate;
  }
  presentedBySocket.set(socket, out);
  return out;
}

/** Source for the mTLS listener: the TLS handshake of this connection. */
export const tlsSource: ChainSource = (c) => tlsSocketSource((c.env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket);

export function tlsSocketSource(socket: unknown): PresentedChain {
  if (!socket || typeof (socket as Partial<TLSSocket>).getPeerX509Certificate !== 'function') {
    return { chain: [], checks: [{ name: 'source', ok: false, detail: 'this request did not arrive over TLS' }] };
  }
  const chain = tlsPresentedChain(socket as TLSSocket);
  return {
    chain,
    checks: chain.length
      ? [{ name: 'source', ok: true, detail: `TLS handshake: the client sent ${chain.length} certificate${chain.length === 1 ? '' : 's'}` }]
      : [],
  };
}
