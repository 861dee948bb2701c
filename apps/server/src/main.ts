/** The composition root: config, database, authority, HTTP and mTLS listeners, shutdown. */
import { resolve, join } from 'node:path';
import { serve } from '@hono/node-server';
import { Authority, JudgeService, KeyEncryptionKey, SoftwareKeyCustody } from '@anvil/ca';
import { databaseUnavailableCode, openStore, preparePrivateDir } from '@anvil/db';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createMtlsHandler } from './mtls/app.ts';
import { startMtlsListener, type MtlsListener } from './mtls/listener.ts';

/** Composition root: config -> db -> authority -> HTTP listener + mTLS listener. */
async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const log = createLogger(config.logLevel);
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
  const authority = new Authority({
    store,
    custody: new SoftwareKeyCustody(kek),
    config: {
      publicUrl: config.pkiUrl,
      sessions: { idleMs: config.sessionIdleMinutes * 60_000, absoluteMs: config.sessionMaxHours * 3600_000 },
      caKeyAlgorithm: config.caKeyAlgorithm,
      organization: config.organization,
      crl: { validityMs: config.crlValidityHours * 3600_000 },
      issueRateLimit: config.issueRateLimit,
    },
  });
  const boot = await authority.bootstrap({ adminToken: config.adminToken, adminPassword: config.adminPassword });
  await authority.start((err) => {
    // While the database restarts this fails once a minute: a warn line, not a stack each time; the next tick retries.
    const code = databaseUnavailableCode(err);
    if (code) log.warn({ code }, 'background CRL refresh: the database is unavailable; retrying at the next check');
    else log.error({ err }, 'background CRL refresh failed');
  });

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
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    const base = `http://localhost:${info.port}`;
    const consoleUrl = config.publicUrl;
    log.info(
      {
        store: store.kind === 'postgres' ? 'postgresql' : `pglite at ${join(dataDir, 'pglite')}`,
        console: consoleUrl,
        api: `${base}/api/v1`,
        reference: `${base}/api/v1/reference`,
        trustBundle: `${base}/pki/trust-bundle.pem`,
        issuers: authority.issuers().map((i) => `${i.record.name} (${i.record.kind}, ${i.record.keyAlgorithm})`),
        createdCa: boot.createdCa,
      },
      `Anvil listening on ${base}`,
    );
    if (boot.generatedAdminToken) {
      // Printed once, to the terminal only, never through the logger.
      process.stderr.write(
        `\n  Admin API token (shown once; store it now):\n\n    ${boot.generatedAdminToken}\n\n  export ANVIL_TOKEN=${boot.generatedAdminToken}\n\n`,
      );
    }
    if (boot.generatedAdminPassword) {
      process.stderr.write(
        `\n  Console sign-in (shown once; you will choose a new password at first sign-in):\n\n    ${consoleUrl}/sign-in  user admin  password ${boot.generatedAdminPassword}\n\n`,
      );
    }
  });

  server.on('error', (err: NodeJS.ErrnoException) => {
    const why = err.code === 'EADDRINUSE' ? `port ${config.port} is already in use (set PORT)` : err.message;
    log.fatal({ err }, `the HTTP listener failed: ${why}`);
    void store.close().finally(() => process.exit(1));
  });

  // The mTLS listener (GET /verify, POST /api/v1/renew) with a server certificate Anvil issues to itself.
  let mtls: MtlsListener | undefined;
  try {
    mtls = await startMtlsListener({
      authority,
      handler: createMtlsHandler({ authority, judge, log, metrics }),
      log,
      port: config.mtlsPort,
      host: config.host,
      hostnames: config.hostnames,
    });
    log.info(
      { verify: `https://${config.hostnames[0] ?? 'localhost'}:${mtls.port}/verify`, notAfter: mtls.identity.notAfter.toISOString() },
      'mTLS listener ready',
    );
  } catch (err) {
    log.error({ err }, 'the mTLS listener did not start; POST /api/v1/judge still works');
  }

  const shutdown = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    authority.stop();
    server.close();
    await mtls?.close();
    await store.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err) => {
  console.error('Anvil failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
