import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import pino from 'pino';
import postgres from 'postgres';
import { Authority, JudgeService, KeyEncryptionKey, SoftwareKeyCustody } from '@anvil/ca';
import { openStore, type DrizzleStore } from '@anvil/db';
import type { KeyAlgorithm } from '@anvil/pki';
import type { AcmeLimits, ValidationSettings } from '@anvil/ca';
import { createApp } from '../../apps/server/src/app.ts';
import { createMtlsHandler } from '../../apps/server/src/mtls/app.ts';
import { startMtlsListener, type MtlsListener } from '../../apps/server/src/mtls/listener.ts';

/** Which database the suite runs on: `ANVIL_TEST_DB=postgres` or the default in-memory PGlite. */
export const TEST_DB = process.env.ANVIL_TEST_DB === 'postgres' ? 'postgres' : 'pglite';
export const PG_ADMIN_URL = process.env.ANVIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const ADMIN_TOKEN = 'anvil_test_admin_token_0123456789abcdef';
/** The console password of `admin` in test Anvils (given, so not to be changed at first sign-in). */
export const ADMIN_PASSWORD = 'correct horse battery staple';

/** A fresh, empty database for one test file; dropped again by the returned cleanup. */
export async function freshDatabase(): Promise<{ url?: string; drop: () => Promise<void> }> {
  if (TEST_DB === 'pglite') return { drop: async () => {} };
  return freshPostgresDatabase();
}

/** A fresh, empty PostgreSQL database whatever ANVIL_TEST_DB says (suites that need PostgreSQL itself). */
export async function freshPostgresDatabase(prefix = 'anvil_test'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    drop: async () => {
      const a = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

export interface TestAnvil {
  app: ReturnType<typeof createApp>;
  authority: Authority;
  store: DrizzleStore;
  token: string;
  publicUrl: string;
  /** The judge shared by the HTTP app and the mTLS listener. */
  judge: JudgeService;
  /** What `shareDatabase` of a second instance takes (PostgreSQL only). */
  database: { url?: string; kek: KeyEncryptionKey };
  /** With `mtls: true`: the mTLS listener on 127.0.0.1 (GET /verify, POST /api/v1/renew). */
  mtls?: MtlsListener;
  /** The console password of `admin` when bootstrap generated it (adminPassword: null). */
  generatedAdminPassword?: string;
  /** JSON API call with the admin token. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export interface TestAnvilOptions {
  /** Serve over real HTTP on a loopback port (for tools that fetch CDP/AIA/OCSP URLs). */
  listen?: boolean;
  caKeyAlgorithm?: KeyAlgorithm;
  now?: () => Date;
  /** Also start the mTLS listener on a loopback port (server certificate for localhost and 127.0.0.1). */
  mtls?: boolean;
  /** ANVIL_TRUSTED_PROXIES for GET /verify on the HTTP app. */
  trustedProxies?: string[];
  /**
   * Share another test Anvil's PostgreSQL database, as a second server process would (same
   * key-encryption key); the first one drops it on close.
   */
  shareDatabase?: { url: string; kek: KeyEncryptionKey };
  /** Logger of the HTTP app and the mTLS listener (default: silent). */
  log?: pino.Logger;
  /** ANVIL_ADMIN_PASSWORD (default ADMIN_PASSWORD; null: generated, as on a first start without it). */
  adminPassword?: string | null;
  /** ANVIL_PUBLIC_URL of the console (default: the HTTP base). */
  consoleUrl?: string;
  /** Console session policy (idle and absolute timeouts). */
  sessions?: { idleMs?: number; absoluteMs?: number };
  /** ANVIL_ISSUE_RATE_LIMIT: the default issuance limit per token and minute (default: none). */
  issueRateLimit?: number;
  /** ACME challenge validation settings (ANVIL_ACME_* parsed; default: challenges.ts's defaults). */
  acmeValidation?: ValidationSettings;
  /** ACME rate limits (default: DEFAULT_ACME_LIMITS). */
  acmeLimits?: Partial<AcmeLimits>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A whole Anvil (store, authority, HTTP app) on a fresh database, one per test file. */
export async function createTestAnvil(options: TestAnvilOptions = {}): Promise<TestAnvil> {
  const db = options.shareDatabase ? { url: options.shareDatabase.url, drop: async () => {} } : await freshDatabase();
  const kek = options.shareDatabase?.kek ?? KeyEncryptionKey.random();
  const store = await openStore(db.url ? { url: db.url, poolSize: 4 } : {});
  const port = options.listen ? await freePort() : 0;
  const publicUrl = options.listen ? `http://127.0.0.1:${port}` : 'http://anvil.test';
  const authority = new Authority({
    store,
    custody: new SoftwareKeyCustody(kek),
    kek,
    config: {
      publicUrl,
      caKeyAlgorithm: options.caKeyAlgorithm ?? 'EC-P256',
      organization: 'Anvil Test',
      sessions: options.sessions,
      issueRateLimit: options.issueRateLimit,
      acme: options.acmeLimits,
    },
    now: options.now,
  });
  const adminPassword = options.adminPassword === null ? undefined : (options.adminPassword ?? ADMIN_PASSWORD);
  const boot = await authority.bootstrap({ adminToken: ADMIN_TOKEN, adminPassword });
  const judge = new JudgeService({ authority });
  const log = options.log ?? pino({ level: 'silent' });
  const app = createApp({
    authority,
    log,
    judge,
    trustedProxies: options.trustedProxies,
    publicUrl: options.consoleUrl ?? publicUrl,
    acmeValidation: options.acmeValidation,
  });
  const mtls = options.mtls
    ? await startMtlsListener({
        authority,
        handler: createMtlsHandler({
          authority,
          judge,
          log,
          acme: options.acmeValidation ? { hostnames: ['localhost', '127.0.0.1'], validation: options.acmeValidation } : undefined,
        }),
        log,
        port: 0,
        host: '127.0.0.1',
        hostnames: ['localhost', '127.0.0.1'],
      })
    : undefined;
  let server: ReturnType<typeof serve> | undefined;
  if (options.listen) {
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve());
    });
  }
  return {
    app,
    authority,
    store,
    token: ADMIN_TOKEN,
    publicUrl,
    generatedAdminPassword: boot.generatedAdminPassword,
    api: (method, path, body, headers = {}) =>
      Promise.resolve(
        app.request(path, {
          method,
          headers: {
            authorization: `Bearer ${ADMIN_TOKEN}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...headers,
          },
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        }),
      ),
    judge,
    mtls,
    database: { url: db.url, kek },
    close: async () => {
      await mtls?.close();
      if (server) await new Promise((r) => server!.close(r));
      await store.close();
      await db.drop();
    },
  };
}
