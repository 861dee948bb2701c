/**
 * The composition root: config, database, authority, HTTP and mTLS listeners, shutdown; and, with
 * ANVIL_WORKERS > 1, a supervisor and its worker processes sharing both ports (node:cluster).
 *
 * One worker (PGlite, or ANVIL_WORKERS=1): this process does everything.
 *
 * Several workers (PostgreSQL): the supervisor migrates and bootstraps the database (so the admin
 * token and password are printed once), then forks the workers, which accept on the shared ports
 * (the cluster module hands connections out round robin) and each serve the whole application.
 * Workers hold no state that must be unique (DESIGN.md: serials, CRL numbers, idempotency keys,
 * sessions and rate limits live in PostgreSQL), so any worker may answer any request. What must run
 * once per node runs in the supervisor, which serves no request:
 * - the background CRL re-signing (Authority.start with background work);
 * - the mTLS listener's own server certificate, and its renewal;
 * - the delegated OCSP responder certificate of each issuer, and its renewal.
 * Workers ask the supervisor for the last two over the cluster's IPC channel; the keys travel only
 * over that channel, in memory, as they would stay in memory in a single process. A worker that
 * exits unexpectedly is replaced; SIGTERM/SIGINT stop the workers first, then the supervisor.
 */
import cluster, { type Worker } from 'node:cluster';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { Authority, JudgeService, KeyEncryptionKey, type ResponderCredentials } from '@anvil/ca';
import { databaseUnavailableCode, openStore, preparePrivateDir } from '@anvil/db';
import { SoftwareSigner } from '@anvil/pki';
import type { Logger } from 'pino';
import { createApp } from './app.ts';
import { type Config, loadConfig } from './config.ts';
import { createCustody } from './custody.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createMtlsHandler } from './mtls/app.ts';
import { issueListenerIdentity, type MtlsIdentity, type MtlsListener, startMtlsListener } from './mtls/listener.ts';

const MTLS_LIFETIME_MS = 30 * 86_400_000;
/** As the listener renews its certificate (a third of its lifetime left) and the responder its own (half). */
const MTLS_RENEW_WHEN_LEFT = 1 / 3;

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const log = createLogger(config.logLevel);
  if (cluster.isWorker) return runWorker(config, log.child({ worker: cluster.worker!.id }));
  if (config.workers > 1) return runSupervisor(config, log);
  return runSingle(config, log);
}

// ---- the parts every mode has -----------------------------------------------------------------

/** Data directory, key-encryption key, database (migrated), custody and the authority, bootstrapped. */
async function openAuthority(
  config: Config,
  log: Logger,
  options: { ocspResponders?: (issuerId: string) => Promise<ResponderCredentials> } = {},
) {
  const dataDir = resolve(config.dataDir);
  if (!config.kek || !config.databaseUrl) {
    // The key-encryption key and the embedded database live here: no one else may read them.
    const tightened = preparePrivateDir(dataDir);
    if (tightened.length) {
      log.warn(
        { dataDir, paths: tightened.length, examples: tightened.slice(0, 3) },
        'the data directory was readable by other users: tightened it to 0700 (directories) and 0600 (files)',
      );
    }
  }
  const kekPath = join(dataDir, 'kek.key');
  const { kek, created: kekCreated } = config.kek
    ? { kek: KeyEncryptionKey.fromString(config.kek), created: false }
    : KeyEncryptionKey.loadOrCreate(kekPath);
  if (kekCreated) log.info({ path: kekPath }, 'created the key-encryption key (mode 0600); back it up with the database');

  const store = await openStore(config.databaseUrl ? { url: config.databaseUrl } : { dataDir });
  const responders = options.ocspResponders;
  const authority = new Authority({
    store,
    custody: await createCustody(config, kek, { store, log }),
    kek,
    config: {
      publicUrl: config.pkiUrl,
      sessions: { idleMs: config.sessionIdleMinutes * 60_000, absoluteMs: config.sessionMaxHours * 3600_000 },
      caKeyAlgorithm: config.caKeyAlgorithm,
      organization: config.organization,
      crl: { validityMs: config.crlValidityHours * 3600_000 },
      ocspSigner: config.ocspSigner,
      issueRateLimit: config.issueRateLimit,
      acme: config.acme.limits,
      ...(responders ? { ocspResponders: (issuer) => responders(issuer.record.id) } : {}),
    },
  });
  const boot = await authority.bootstrap({ adminToken: config.adminToken, adminPassword: config.adminPassword });
  return { store, authority, boot, dataDir };
}

function backgroundErrors(log: Logger) {
  return (err: unknown) => {
    // While the database restarts this fails once a minute: a warn line, not a stack each time; the next tick retries.
    const code = databaseUnavailableCode(err);
    if (code) log.warn({ code }, 'background CRL refresh: the database is unavailable; retrying at the next check');
    else log.error({ err }, 'background CRL refresh failed');
  };
}

/** The HTTP listener and the mTLS listener over one authority. Resolves once both listen (the mTLS one may fail alone). */
async function serveBoth(
  config: Config,
  log: Logger,
  authority: Authority,
  options: { issueIdentity?: () => Promise<MtlsIdentity>; onHttpListening?: (port: number) => void } = {},
) {
  const metrics = createMetrics({
    crlStatus: () =>
      Promise.all(
        authority.issuers().map(async (issuer) => {
          const crl = await authority.crls.current(issuer);
          return { issuer: issuer.record.name, number: crl.number, thisUpdate: crl.thisUpdate };
        }),
      ),
  });
  const judge = new JudgeService({ authority });
  const app = createApp({
    authority,
    log,
    bodyLimit: config.bodyLimit,
    metrics,
    judge,
    trustedProxies: config.trustedProxies,
    publicUrl: config.publicUrl,
    acmeValidation: config.acme.validation,
  });
  let server: ReturnType<typeof serve> | undefined;
  const httpPort = await new Promise<number>((resolveListening, reject) => {
    server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => resolveListening(info.port));
    server.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? `port ${config.port} is already in use (set PORT)` : err.message;
      log.fatal({ err }, `the HTTP listener failed: ${why}`);
      reject(err);
    });
  });
  options.onHttpListening?.(httpPort);

  // The mTLS listener (GET /verify, POST /api/v1/renew) with a server certificate Anvil issues to itself.
  let mtls: MtlsListener | undefined;
  try {
    mtls = await startMtlsListener({
      authority,
      handler: createMtlsHandler({
        authority,
        judge,
        log,
        metrics,
        acme: { hostnames: config.hostnames, validation: config.acme.validation },
      }),
      log,
      port: config.mtlsPort,
      host: config.host,
      hostnames: config.hostnames,
      lifetimeMs: MTLS_LIFETIME_MS,
      renewWhenLeft: MTLS_RENEW_WHEN_LEFT,
      issueIdentity: options.issueIdentity,
    });
  } catch (err) {
    log.error({ err }, 'the mTLS listener did not start; POST /api/v1/judge still works');
  }
  return {
    httpPort,
    mtls,
    close: async () => {
      server?.close();
      await mtls?.close();
    },
  };
}

/** The start-up banner, once per node, and the secrets bootstrap generated, to the terminal only (never the logger). */
function announce(
  config: Config,
  log: Logger,
  facts: { httpPort: number; authority: Authority; store: { kind: string }; dataDir: string; workers: number },
  boot: Awaited<ReturnType<Authority['bootstrap']>>,
) {
  const base = `http://localhost:${facts.httpPort}`;
  log.info(
    {
      store: facts.store.kind === 'postgres' ? 'postgresql' : `pglite at ${join(facts.dataDir, 'pglite')}`,
      workers: facts.workers,
      console: config.publicUrl,
      api: `${base}/api/v1`,
      reference: `${base}/api/v1/reference`,
      trustBundle: `${base}/pki/trust-bundle.pem`,
      issuers: facts.authority.issuers().map((i) => `${i.record.name} (${i.record.kind}, ${i.record.keyAlgorithm})`),
      createdCa: boot.createdCa,
    },
    `Anvil listening on ${base}`,
  );
  if (boot.generatedAdminToken) {
    process.stderr.write(
      `\n  Admin API token (shown once; store it now):\n\n    ${boot.generatedAdminToken}\n\n  export ANVIL_TOKEN=${boot.generatedAdminToken}\n\n`,
    );
  }
  if (boot.generatedAdminPassword) {
    process.stderr.write(
      `\n  Console sign-in (shown once; you will choose a new password at first sign-in):\n\n    ${config.publicUrl}/sign-in  user admin  password ${boot.generatedAdminPassword}\n\n`,
    );
  }
}

function onSignals(stop: (signal: string) => Promise<void>) {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    void stop(signal).finally(() => process.exit(0));
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

// ---- one process ------------------------------------------------------------------------------

async function runSingle(config: Config, log: Logger) {
  const { store, authority, boot, dataDir } = await openAuthority(config, log);
  await authority.start(backgroundErrors(log));
  let served: Awaited<ReturnType<typeof serveBoth>>;
  try {
    served = await serveBoth(config, log, authority, {
      onHttpListening: (httpPort) => announce(config, log, { httpPort, authority, store, dataDir, workers: 1 }, boot),
    });
  } catch {
    await store.close().finally(() => process.exit(1));
    return;
  }
  if (served.mtls) logMtlsReady(log, config, { port: served.mtls.port, notAfter: served.mtls.identity.notAfter.toISOString() });
  onSignals(async (signal) => {
    log.info({ signal }, 'shutting down');
    authority.stop();
    await served.close();
    await store.close();
  });
}

/** The one "mTLS listener ready" line: a single process's, or the supervisor's once every worker listens. */
function logMtlsReady(log: Logger, config: Config, mtls: { port: number; notAfter: string }) {
  log.info({ verify: `https://${config.hostnames[0] ?? 'localhost'}:${mtls.port}/verify`, notAfter: mtls.notAfter }, 'mTLS listener ready');
}

// ---- supervisor and workers -------------------------------------------------------------------

/** Worker -> supervisor. */
type Question = { what: 'mtls-identity' } | { what: 'ocsp-responder'; issuerId: string };
type Ask = { anvil: 'ask'; id: number } & Question;
/** Supervisor -> worker. */
type Answer = { anvil: 'answer'; id: number; value?: unknown; error?: string };
/** Worker -> supervisor, once its listeners are up. */
type Ready = { anvil: 'ready'; httpPort: number; mtls: { port: number; notAfter: string } | null };

interface WireIdentity {
  keyPem: string;
  certPem: string;
  der: string;
  notBefore: string;
  notAfter: string;
}
interface WireResponder {
  certificateDer: string;
  keyPkcs8: string;
  notAfter: string;
}

/** Shares one in-flight renewal among concurrent askers; renews when `due(current)`. */
function renewing<T>(make: () => Promise<T>, due: (current: T) => boolean): () => Promise<T> {
  let current: T | undefined;
  let pending: Promise<T> | undefined;
  return () => {
    if (current !== undefined && !due(current)) return Promise.resolve(current);
    pending ??= make()
      .then((made) => (current = made))
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}

async function runSupervisor(config: Config, log: Logger) {
  const { store, authority, boot, dataDir } = await openAuthority(config, log);
  await authority.start(backgroundErrors(log));

  const now = () => Date.now();
  const identity = renewing(
    () => issueListenerIdentity(authority, config.hostnames, MTLS_LIFETIME_MS),
    (id) => id.notAfter.getTime() - now() < (id.notAfter.getTime() - id.notBefore.getTime()) * MTLS_RENEW_WHEN_LEFT,
  );
  const responders = new Map<string, () => Promise<ResponderCredentials>>();
  const responder = (issuerId: string) => {
    let get = responders.get(issuerId);
    if (!get) {
      // Renewed with half of its 48 h left, as the OcspResponder of one process would.
      get = renewing(
        () => authority.issueOcspResponder(issuerId),
        (c) => c.notAfter.getTime() - now() < 24 * 3600_000,
      );
      responders.set(issuerId, get);
    }
    return get();
  };

  const answer = async (worker: Worker, ask: Ask) => {
    const reply = (a: Omit<Answer, 'anvil' | 'id'>) => {
      if (worker.isConnected()) worker.send({ anvil: 'answer', id: ask.id, ...a } satisfies Answer);
    };
    try {
      if (ask.what === 'mtls-identity') {
        const id = await identity();
        reply({
          value: {
            keyPem: id.keyPem,
            certPem: id.certPem,
            der: Buffer.from(id.der).toString('base64'),
            notBefore: id.notBefore.toISOString(),
            notAfter: id.notAfter.toISOString(),
          } satisfies WireIdentity,
        });
      } else {
        const c = await responder(ask.issuerId);
        reply({
          value: {
            certificateDer: Buffer.from(c.certificateDer).toString('base64'),
            keyPkcs8: Buffer.from(c.keyPkcs8!).toString('base64'),
            notAfter: c.notAfter.toISOString(),
          } satisfies WireResponder,
        });
      }
    } catch (err) {
      // The worker sees the code, not a message that could carry more than it should.
      log.error({ err, what: ask.what }, 'a worker asked for credentials the supervisor could not make');
      reply({ error: databaseUnavailableCode(err) ?? 'credentials_failed' });
    }
  };

  let stopping = false;
  let announced = false;
  const ready = new Map<number, Ready>();
  const fork = () => {
    const worker = cluster.fork();
    worker.on('message', (msg: Ask | Ready) => {
      if (msg?.anvil === 'ask') void answer(worker, msg);
      else if (msg?.anvil === 'ready') {
        ready.set(worker.id, msg);
        if (!announced && ready.size === config.workers) {
          announced = true;
          announce(config, log, { httpPort: msg.httpPort, authority, store, dataDir, workers: config.workers }, boot);
          if (msg.mtls) logMtlsReady(log, config, msg.mtls);
        }
      }
    });
  };
  let restarts: number[] = [];
  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker.id);
    if (stopping) return;
    // A worker that keeps dying at start (a bad port, say) stops the node rather than spinning.
    restarts = [...restarts.filter((t) => now() - t < 60_000), now()];
    if (!announced || restarts.length > 5 * config.workers) {
      log.fatal({ worker: worker.id, code, signal }, 'a worker process failed; stopping');
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
      authority.stop();
      void store.close().finally(() => process.exit(1));
      return;
    }
    log.error({ worker: worker.id, code, signal }, 'a worker process exited; starting another');
    fork();
  });
  for (let i = 0; i < config.workers; i++) fork();

  onSignals(async (signal) => {
    stopping = true;
    log.info({ signal, workers: config.workers }, 'shutting down');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((done) => {
            const force = setTimeout(() => w.kill('SIGKILL'), 10_000);
            w.once('exit', () => {
              clearTimeout(force);
              done();
            });
            w.kill('SIGTERM');
          }),
      ),
    );
    authority.stop();
    await store.close();
  });
}

async function runWorker(config: Config, log: Logger) {
  let next = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  process.on('message', (msg: Answer) => {
    if (msg?.anvil !== 'answer') return;
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (!w) return;
    if (msg.error) w.reject(Object.assign(new Error(`the supervisor could not provide it (${msg.error})`), { code: msg.error }));
    else w.resolve(msg.value);
  });
  const ask = <T>(what: Question) =>
    new Promise<T>((resolveAsk, reject) => {
      const id = ++next;
      waiting.set(id, { resolve: resolveAsk as (v: unknown) => void, reject });
      process.send!({ anvil: 'ask', id, ...what } as Ask);
    });

  const { store, authority } = await openAuthority(config, log, {
    ocspResponders: async (issuerId) => {
      const w = await ask<WireResponder>({ what: 'ocsp-responder', issuerId });
      const keyPkcs8 = new Uint8Array(Buffer.from(w.keyPkcs8, 'base64'));
      return {
        certificateDer: new Uint8Array(Buffer.from(w.certificateDer, 'base64')),
        signer: new SoftwareSigner('EC-P256', keyPkcs8),
        notAfter: new Date(w.notAfter),
      };
    },
  });
  await authority.start(backgroundErrors(log), { background: false });
  const served = await serveBoth(config, log, authority, {
    issueIdentity: async () => {
      const w = await ask<WireIdentity>({ what: 'mtls-identity' });
      return {
        keyPem: w.keyPem,
        certPem: w.certPem,
        der: new Uint8Array(Buffer.from(w.der, 'base64')),
        notBefore: new Date(w.notBefore),
        notAfter: new Date(w.notAfter),
      };
    },
  }).catch(async (err) => {
    await store.close();
    throw err;
  });
  process.send!({
    anvil: 'ready',
    httpPort: served.httpPort,
    mtls: served.mtls ? { port: served.mtls.port, notAfter: served.mtls.identity.notAfter.toISOString() } : null,
  } satisfies Ready);
  onSignals(async () => {
    authority.stop();
    await served.close();
    await store.close();
  });
}

main().catch((err) => {
  console.error('Anvil failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
