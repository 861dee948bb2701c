/** Configuration from the environment: one schema, one message naming every bad variable. */
import { z } from 'zod';
import { KEY_ALGORITHMS } from '@anvil/pki';

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
  /** Certificates per minute per API token without a limit of its own (admin tokens exempt); 0: none. */
  ANVIL_ISSUE_RATE_LIMIT: z.coerce.number().int().min(0).max(100_000).default(60),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  /** Default issuance rate limit per API token, per minute; 0: none. */
  issueRateLimit: number;
  logLevel: string;
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
    issueRateLimit: e.ANVIL_ISSUE_RATE_LIMIT,
    logLevel: e.LOG_LEVEL,
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
