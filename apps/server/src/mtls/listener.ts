/**
 * The mTLS listener (ANVIL_MTLS_PORT, default 8443): HTTPS that asks every client for a
 * certificate and never fails the handshake over it, so GET /verify can tell the client what
 * was wrong instead of the client seeing a TLS alert.
 *
 * - Its server certificate is issued by Anvil to itself (profile "server", a fresh EC P-256 key
 *   held only in memory, SANs from ANVIL_HOSTNAMES) and renewed when a third of its lifetime is
 *   left; the new certificate is swapped in with server.setSecureContext, without a restart.
 * - The CertificateRequest lists Anvil's roots only (the `ca` option), which is what nginx's
 *   ssl_client_certificate = trust-bundle.pem sends too. The roots are re-read with the
 *   certificate, and when the set of issuers changes.
 * - requestCert: true, rejectUnauthorized: false: OpenSSL's own verdict is ignored; the judge
 *   decides. Session resumption is off (no tickets, no session cache): a resumed session
 *   carries no client chain, and every /verify must judge what this handshake presented.
 */
import { constants as cryptoConstants } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Actor, Authority } from '@anvil/ca';
import { privateKeyPem } from '@anvil/pki';

export interface MtlsIdentity {
  keyPem: string;
  /** Leaf + intermediates. */
  certPem: string;
  der: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

export interface MtlsListenerOptions {
  authority: Authority;
  /** Handles every request (createMtlsHandler). */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  log: Logger;
  port: number;
  host?: string;
  hostnames: string[];
  /** Lifetime of the listener's own certificate (default 30 days). */
  lifetimeMs?: number;
  /** Renew when less than this fraction of the lifetime is left (default 1/3). */
  renewWhenLeft?: number;
  /** How often to check (default a minute). */
  checkIntervalMs?: number;
  /**
   * Where the listener's certificate and key come from (default: issued here by issueListenerIdentity).
   * A worker process asks its supervisor, so the workers of one node share one certificate (main.ts).
   */
  issueIdentity?: () => Promise<MtlsIdentity>;
  now?: () => Date;
}

export interface MtlsListener {
  readonly port: number;
  readonly identity: MtlsIdentity;
  /** The PEM roots listed in the CertificateRequest. */
  readonly caPem: string;
  server: HttpsServer;
  /** Issues a new server certificate now and swaps it in. */
  renew(): Promise<void>;
  close(): Promise<void>;
}

const ACTOR: Actor = { id: 'system', name: 'mtls-listener', source: null };
const DAY = 86_400_000;

/** A server certificate for the listener, issued by Anvil with a key generated here. */
export async function issueListenerIdentity(authority: Authority, hostnames: string[], lifetimeMs: number): Promise<MtlsIdentity> {
  const ip = hostnames.filter((h) => isIP(h));
  const dns = hostnames.filter((h) => !isIP(h)).map((h) => h.toLowerCase());
  if (ip.length + dns.length === 0)
    throw new Error('ANVIL_HOSTNAMES is empty: the mTLS listener needs at least one name for its certificate');
  const issued = await authority.issue(
    {
      profile: 'server',
      keyAlgorithm: 'EC-P256',
      subject: dns[0] ? { CN: dns[0] } : {},
      sans: { dns, ip },
      ttl: Math.max(60, Math.floor(lifetimeMs / 1000)),
    },
    ACTOR,
  );
  const pems = authority.pemsOf(issued.record);
  return {
    keyPem: privateKeyPem(issued.privateKeyPkcs8!),
    certPem: pems.fullchain,
    der: issued.record.der,
    notBefore: issued.record.notBefore,
    notAfter: issued.record.notAfter,
  };
}

function rootsKey(authority: Authority): string {
  return authority
    .roots()
    .map((r) => r.record.id)
    .join(',');
}

function contextOptions(identity: MtlsIdentity, caPem: string): ServerOptions {
  return {
    key: identity.keyPem,
    cert: identity.certPem,
    ca: caPem,
    minVersion: 'TLSv1.2',
    // No tickets (and Node keeps no server session cache of its own): no resumption.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
  };
}

export async function startMtlsListener(options: MtlsListenerOptions): Promise<MtlsListener> {
  const { authority, log } = options;
  const now = options.now ?? (() => new Date());
  const lifetimeMs = options.lifetimeMs ?? 30 * DAY;
  const renewWhenLeft = options.renewWhenLeft ?? 1 / 3;
  const issueIdentity = options.issueIdentity ?? (() => issueListenerIdentity(authority, options.hostnames, lifetimeMs));
  let identity = await issueIdentity();
  let caPem = authority.trustBundlePem();
  let roots = rootsKey(authority);

  const serverOptions: ServerOptions = {
    ...contextOptions(identity, caPem),
    requestCert: true,
    rejectUnauthorized: false,
    // Handshakes that stall should not pin sockets.
    handshakeTimeout: 10_000,
  };
  const server: HttpsServer = createHttpsServer(serverOptions, options.handler);
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve((server.address() as { port: number }).port));
  });
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'mTLS handshake failed'));
  // Every request has its own connection in the judge's usual use; do not hold idle sockets long.
  server.keepAliveTimeout = 5_000;

  const swap = () => {
    server.setSecureContext(contextOptions(identity, caPem));
  };

  const renew = async () => {
    identity = await issueIdentity();
    caPem = authority.trustBundlePem();
    roots = rootsKey(authority);
    swap();
    log.info({ notAfter: identity.notAfter.toISOString() }, 'mTLS listener certificate renewed');
  };

  let renewing: Promise<void> | null = null;
  const tick = () => {
    if (renewing) return;
    const t = now().getTime();
    const left = identity.notAfter.getTime() - t;
    const lifetime = identity.notAfter.getTime() - identity.notBefore.getTime();
    if (left < lifetime * renewWhenLeft) {
      renewing = renew()
        .catch((err) => log.error({ err }, 'renewing the mTLS listener certificate failed; will retry'))
        .finally(() => {
          renewing = null;
        });
    } else if (rootsKey(authority) !== roots) {
      caPem = authority.trustBundlePem();
      roots = rootsKey(authority);
      swap();
      log.info('mTLS listener: trust anchors changed, CertificateRequest updated');
    }
  };
  const timer = setInterval(tick, options.checkIntervalMs ?? 60_000);
  timer.unref();

  return {
    get port() {
      return port;
    },
    get identity() {
      return identity;
    },
    get caPem() {
      return caPem;
    },
    server,
    renew: async () => {
      if (renewing) await renewing;
      await renew();
    },
    close: async () => {
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
  };
}
