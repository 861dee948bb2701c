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
  ANVIL_PUBLIC_URL: z.string().url().default('http://localhost:8080'),
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
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = {
  port: number;
  host: string;
  mtlsPort: number;
  dataDir: string;
  databaseUrl?: string;
  publicUrl: string;
  hostnames: string[];
  adminToken?: string;
  adminPassword?: string;
  kek?: string;
  caKeyAlgorithm: (typeof KEY_ALGORITHMS)[number];
  organization: string;
  trustedProxies: string[];
  bodyLimit: number;
  crlValidityHours: number;
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
  return {
    port: e.PORT,
    host: e.HOST,
    mtlsPort: e.ANVIL_MTLS_PORT,
    dataDir: e.ANVIL_DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    publicUrl: e.ANVIL_PUBLIC_URL.replace(/\/+$/, ''),
    hostnames: list(e.ANVIL_HOSTNAMES),
    adminToken: e.ANVIL_ADMIN_TOKEN,
    adminPassword: e.ANVIL_ADMIN_PASSWORD,
    kek: e.ANVIL_KEK,
    caKeyAlgorithm: e.ANVIL_CA_KEY_ALGORITHM,
    organization: e.ANVIL_ORGANIZATION,
    trustedProxies: list(e.ANVIL_TRUSTED_PROXIES),
    bodyLimit: e.ANVIL_BODY_LIMIT,
    crlValidityHours: e.ANVIL_CRL_VALIDITY_HOURS,
    logLevel: e.LOG_LEVEL,
  };
}
