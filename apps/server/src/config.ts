/** Configuration from the environment: one schema, one message naming every bad variable. */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { KEY_ALGORITHMS } from '@anvil/pki';
import { OCSP_SIGNER_CHOICES, parseValidationSettings, type AcmeLimits, type OcspSignerChoice, type ValidationSettings } from '@anvil/ca';

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  ANVIL_MTLS_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  ANVIL_DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// URL')
    .optional(),
  ANVIL_PUBLIC_URL: z
    .string()
    .url()
    .regex(/^https?:\/\//, 'ANVIL_PUBLIC_URL must be an http:// or https:// URL')
    .default('http://localhost:8080'),
  ANVIL_PKI_URL: z.string().url().optional(),
  ANVIL_SESSION_IDLE_MINUTES: z.coerce.number().positive().default(30),
  ANVIL_SESSION_MAX_HOURS: z.coerce.number().positive().default(12),
  ANVIL_HOSTNAMES: z.string().default('localhost,127.0.0.1'),
  ANVIL_ADMIN_TOKEN: z.string().min(16, 'ANVIL_ADMIN_TOKEN must be at least 16 characters').optional(),
  ANVIL_ADMIN_PASSWORD: z.string().optional(),
  ANVIL_KEK: z.string().optional(),
  ANVIL_CA_KEY_ALGORITHM: z.enum(KEY_ALGORITHMS).default('EC-P256'),
  ANVIL_ORGANIZATION: z.string().min(1).default('Anvil'),
  /** Comma-separated addresses whose X-Client-Cert / X-Forwarded-Client-Cert headers are believed. */
  ANVIL_TRUSTED_PROXIES: z.string().default(''),
  ANVIL_BODY_LIMIT: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024),
  ANVIL_CRL_VALIDITY_HOURS: z.coerce.number().positive().default(24),
  /** Who signs OCSP answers: `auto` (the CA key when it is on a PKCS#11 token, else a delegated responder), `issuer`, `delegated`. */
  ANVIL_OCSP_SIGNER: z.enum(OCSP_SIGNER_CHOICES).default('auto'),
  /** Certificates per minute per API token without a limit of its own (admin tokens exempt); 0: none. */
  ANVIL_ISSUE_RATE_LIMIT: z.coerce.number().int().min(0).max(100_000).default(60),
  /** Worker processes sharing PORT and ANVIL_MTLS_PORT (node:cluster); default: the cores, on PostgreSQL. */
  ANVIL_WORKERS: z.coerce.number().int().min(1).max(64).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // ---- CA key custody (apps/server/src/custody.ts): software, or a PKCS#11 token; restore of a key backup ----
  /** Where new CA keys are made: `software` (under the KEK) or `pkcs11` (on the token, never leaving it). */
  ANVIL_CA_KEY_STORE: z.enum(['software', 'pkcs11']).default('software'),
  /** The PKCS#11 module (.so); set it to sign with token keys, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  ANVIL_PKCS11_MODULE: z.string().optional(),
  ANVIL_PKCS11_TOKEN_LABEL: z.string().optional(),
  ANVIL_PKCS11_SLOT: z.coerce.number().int().min(0).optional(),
  /** The user PIN, or a file holding it (preferred: the environment of a process is easier to read). Never logged. */
  ANVIL_PKCS11_PIN: z.string().optional(),
  ANVIL_PKCS11_PIN_FILE: z.string().optional(),
  ANVIL_PKCS11_SESSIONS: z.coerce.number().int().min(1).max(64).default(2),
  /** A CA key backup (`anvil ca export`) restored into an empty database at first start, and its passphrase file. */
  ANVIL_RESTORE_FILE: z.string().optional(),
  ANVIL_RESTORE_PASSPHRASE_FILE: z.string().optional(),
  // ---- ACME (routes/acme; validation settings ANVIL_ACME_HTTP_PORT … are read by challenges.ts parseValidationSettings) ----
  /** Orders one ACME account may create an hour; 0: no limit. */
  ANVIL_ACME_ORDERS_PER_HOUR: z.coerce.number().int().min(0).max(1_000_000).default(300),
  /** Certificates ACME may issue for one name a week (per profile); 0: no limit. */
  ANVIL_ACME_CERTS_PER_NAME_PER_WEEK: z.coerce.number().int().min(0).max(1_000_000).default(50),
});

export type Config = {
  port: number;
  host: string;
  mtlsPort: number;
  dataDir: string;
  databaseUrl?: string;
  /** Where people reach the console and API (http or https). */
  publicUrl: string;
  /** Base of the CRL distribution point, AIA and OCSP URLs written into certificates: always http. */
  pkiUrl: string;
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  hostnames: string[];
  adminToken?: string;
  adminPassword?: string;
  kek?: string;
  caKeyAlgorithm: (typeof KEY_ALGORITHMS)[number];
  organization: string;
  trustedProxies: string[];
  bodyLimit: number;
  crlValidityHours: number;
  ocspSigner: OcspSignerChoice;
  /** Default issuance rate limit per API token, per minute; 0: none. */
  issueRateLimit: number;
  logLevel: string;
  /** Worker processes (1: the process serves itself; more: a supervisor and that many workers, see main.ts). */
  workers: number;
  /** ACME: where challenge validations may connect (challenges.ts) and the rate limits (acme/service.ts). */
  acme: { validation: ValidationSettings; limits: AcmeLimits };
  /** CA key custody; see custody.ts. The PIN is read from its file there, not kept here. */
  custody: {
    keyStore: 'software' | 'pkcs11';
    pkcs11?: { module: string; tokenLabel?: string; slot?: number; pin?: string; pinFile?: string; sessions: number };
    restore?: { file: string; passphraseFile: string };
  };
};

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** Environment -> typed config; throws one message naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`invalid configuration:\n${problems}`);
  }
  const e = parsed.data;
  let acmeValidation: ValidationSettings;
  try {
    acmeValidation = parseValidationSettings(env);
  } catch (err) {
    throw new Error(`invalid configuration:\n  ${(err as Error).message}`);
  }
  const publicUrl = e.ANVIL_PUBLIC_URL.replace(/\/+$/, '');
  return {
    port: e.PORT,
    host: e.HOST,
    mtlsPort: e.ANVIL_MTLS_PORT,
    dataDir: e.ANVIL_DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    publicUrl,
    pkiUrl: pkiUrlOf(e.ANVIL_PKI_URL, publicUrl),
    sessionIdleMinutes: e.ANVIL_SESSION_IDLE_MINUTES,
    sessionMaxHours: e.ANVIL_SESSION_MAX_HOURS,
    hostnames: list(e.ANVIL_HOSTNAMES),
    adminToken: e.ANVIL_ADMIN_TOKEN,
    adminPassword: e.ANVIL_ADMIN_PASSWORD,
    kek: e.ANVIL_KEK,
    caKeyAlgorithm: e.ANVIL_CA_KEY_ALGORITHM,
    organization: e.ANVIL_ORGANIZATION,
    trustedProxies: list(e.ANVIL_TRUSTED_PROXIES),
    bodyLimit: e.ANVIL_BODY_LIMIT,
    crlValidityHours: e.ANVIL_CRL_VALIDITY_HOURS,
    ocspSigner: e.ANVIL_OCSP_SIGNER,
    issueRateLimit: e.ANVIL_ISSUE_RATE_LIMIT,
    logLevel: e.LOG_LEVEL,
    workers: workersOf(e.ANVIL_WORKERS, e.DATABASE_URL),
    custody: custodyOf(e),
    acme: {
      validation: acmeValidation,
      limits: { ordersPerAccountPerHour: e.ANVIL_ACME_ORDERS_PER_HOUR, certificatesPerNamePerWeek: e.ANVIL_ACME_CERTS_PER_NAME_PER_WEEK },
    },
  };
}

/**
 * PGlite is one process holding its files, so it has one worker. PKCS#11 custody runs in every
 * worker: each process opens its own sessions on the token, and the module locks around its own
 * state (custody/pkcs11.ts `initializeWithLocking`).
 */
function workersOf(workers: number | undefined, databaseUrl: string | undefined): number {
  if (!databaseUrl) {
    if (workers !== undefined && workers > 1) {
      throw new Error(
        'invalid configuration:\n  ANVIL_WORKERS: the embedded PGlite database is one process; several workers need DATABASE_URL (PostgreSQL)',
      );
    }
    return 1;
  }
  return workers ?? availableParallelism();
}

function custodyOf(e: z.infer<typeof schema>): Config['custody'] {
  const problems: string[] = [];
  if (e.ANVIL_CA_KEY_STORE === 'pkcs11' && !e.ANVIL_PKCS11_MODULE)
    problems.push('ANVIL_PKCS11_MODULE: required when ANVIL_CA_KEY_STORE=pkcs11');
  if (e.ANVIL_PKCS11_MODULE) {
    if (e.ANVIL_PKCS11_TOKEN_LABEL === undefined && e.ANVIL_PKCS11_SLOT === undefined)
      problems.push('ANVIL_PKCS11_TOKEN_LABEL: set it (or ANVIL_PKCS11_SLOT) to choose the token');
    if (e.ANVIL_PKCS11_PIN === undefined && e.ANVIL_PKCS11_PIN_FILE === undefined)
      problems.push('ANVIL_PKCS11_PIN_FILE: set it (or ANVIL_PKCS11_PIN) to log in to the token');
  }
  if ((e.ANVIL_RESTORE_FILE === undefined) !== (e.ANVIL_RESTORE_PASSPHRASE_FILE === undefined)) {
    problems.push('ANVIL_RESTORE_PASSPHRASE_FILE: ANVIL_RESTORE_FILE and ANVIL_RESTORE_PASSPHRASE_FILE go together');
  }
  if (problems.length) throw new Error(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return {
    keyStore: e.ANVIL_CA_KEY_STORE,
    ...(e.ANVIL_PKCS11_MODULE
      ? {
          pkcs11: {
            module: e.ANVIL_PKCS11_MODULE,
            tokenLabel: e.ANVIL_PKCS11_TOKEN_LABEL,
            slot: e.ANVIL_PKCS11_SLOT,
            pin: e.ANVIL_PKCS11_PIN,
            pinFile: e.ANVIL_PKCS11_PIN_FILE,
            sessions: e.ANVIL_PKCS11_SESSIONS,
          },
        }
      : {}),
    ...(e.ANVIL_RESTORE_FILE && e.ANVIL_RESTORE_PASSPHRASE_FILE
      ? { restore: { file: e.ANVIL_RESTORE_FILE, passphraseFile: e.ANVIL_RESTORE_PASSPHRASE_FILE } }
      : {}),
  };
}

/**
 * RFC 5280 (4.2.1.13, 4.2.2.1) and zlint want CRL distribution points, AIA and OCSP URLs in plain
 * http: a client fetching revocation data over TLS would need a revocation check of that TLS
 * connection first. So the console may be served over https, but the URLs written into
 * certificates have their own base, and it is never https.
 */
function pkiUrlOf(pkiUrl: string | undefined, publicUrl: string): string {
  if (pkiUrl === undefined) {
    if (publicUrl.startsWith('https:')) {
      throw new Error(
        'invalid configuration:\n  ANVIL_PKI_URL: ANVIL_PUBLIC_URL is https, so set ANVIL_PKI_URL to the http:// base where ' +
          '/pki and /ocsp are reachable; certificates must carry http CRL and OCSP URLs (RFC 5280: a revocation source fetched over TLS needs its own revocation check)',
      );
    }
    return publicUrl;
  }
  if (!/^http:\/\//i.test(pkiUrl)) {
    throw new Error(
      `invalid configuration:\n  ANVIL_PKI_URL: must be an http:// URL (got ${pkiUrl.slice(0, 100)}); the CRL and OCSP URLs written ` +
        'into certificates are plain http (RFC 5280: a revocation source fetched over TLS needs its own revocation check)',
    );
  }
  return pkiUrl.replace(/\/+$/, '');
}
