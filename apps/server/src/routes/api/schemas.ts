/** The API's request and response schemas (zod, also the OpenAPI document and the CLI's types). */
import { z } from '@hono/zod-openapi';
import { KEY_ALGORITHMS, REVOCATION_REASONS } from '@anvil/pki';
import { ACME_CHALLENGE_TYPES, PROFILE_NAME } from '@anvil/ca';
import { DNS_SUBDOMAIN } from './bundles.ts';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ description: 'Stable machine-readable error code' }),
    detail: z.string(),
  })
  .openapi('Problem');

export const problemResponses = {
  400: { description: 'Malformed or invalid request', content: { 'application/problem+json': { schema: ProblemSchema } } },
  401: { description: 'Missing or wrong token', content: { 'application/problem+json': { schema: ProblemSchema } } },
  404: { description: 'Not found', content: { 'application/problem+json': { schema: ProblemSchema } } },
  422: { description: 'Refused by policy', content: { 'application/problem+json': { schema: ProblemSchema } } },
} as const;

export const SansSchema = z
  .object({
    dns: z.array(z.string().max(253)).max(1000).default([]),
    ip: z.array(z.string().max(64)).max(1000).default([]),
    uri: z.array(z.string().max(2048)).max(1000).default([]),
    email: z.array(z.string().max(320)).max(1000).default([]),
  })
  .strict()
  .openapi('Sans');

export const SubjectSchema = z
  .object({
    CN: z.string().min(1).max(64).optional(),
    O: z.string().min(1).max(64).optional(),
    OU: z.string().min(1).max(64).optional(),
    L: z.string().min(1).max(128).optional(),
    ST: z.string().min(1).max(128).optional(),
    C: z
      .string()
      .regex(/^[A-Z]{2}$/, 'C is a two-letter country code')
      .optional(),
  })
  .strict()
  .openapi('Subject');

export const TtlSchema = z
  .union([z.string().max(16), z.number().int().positive()])
  .openapi({ description: 'Seconds, or a duration such as "90d", "720h", "30m"', example: '90d' });

/** Kubernetes object names (DNS-1123), for the Secret bundles. */
export const SecretNameSchema = z
  .string()
  .regex(DNS_SUBDOMAIN, 'a Secret name is lower-case letters, digits, "-" and ".", at most 253 characters')
  .openapi({ description: 'metadata.name; default: the CN made DNS-safe, plus "-tls"' });
export const NamespaceSchema = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a namespace is lower-case letters, digits and "-", at most 63 characters')
  .openapi({ description: 'metadata.namespace; default: none (kubectl uses the current namespace)' });

export const IssueRequestSchema = z
  .object({
    profile: z.string().min(1).max(64).openapi({ example: 'client' }),
    csr: z.string().max(65536).optional().openapi({ description: 'PEM PKCS#10 request; omit to have a key generated' }),
    keyAlgorithm: z.enum(KEY_ALGORITHMS).optional().openapi({ description: 'Without csr: the key to generate (default EC-P256)' }),
    subject: SubjectSchema.optional(),
    sans: SansSchema.partial().optional(),
    ttl: TtlSchema.optional(),
    issuer: z.string().max(64).optional(),
    pkcs12Password: z
      .string()
      .min(1, 'pkcs12Password must not be empty: readers treat an empty PKCS#12 password inconsistently')
      .max(1024)
      .refine((s) => !s.includes('\u0000') && !/\p{Cs}/u.test(s), 'pkcs12Password must not contain NUL or unpaired surrogate characters')
      .optional()
      .openapi({
        description: 'Without csr: also return `pkcs12`, the key, certificate and intermediates in a PKCS#12 protected by this password',
      }),
    pkcs12Legacy: z.boolean().optional().openapi({
      description: 'true: 3DES/SHA-1 PKCS#12 for old readers (Java 8 before 8u301, old Windows/macOS); default AES-256-CBC/PBKDF2-SHA256',
    }),
    kubernetesSecret: z
      .union([z.boolean(), z.object({ name: SecretNameSchema.optional(), namespace: NamespaceSchema.optional() }).strict()])
      .optional()
      .openapi({
        description: 'Without csr: also return `kubernetesSecret`, a kubernetes.io/tls Secret YAML with tls.crt, tls.key and ca.crt',
      }),
  })
  .strict()
  .openapi('IssueRequest');

export const CertificateSchema = z
  .object({
    id: z.string().uuid(),
    serial: z.string(),
    issuer: z.string(),
    profile: z.string(),
    subject: z.string(),
    sans: SansSchema,
    notBefore: z.string(),
    notAfter: z.string(),
    status: z.enum(['active', 'revoked', 'expired']),
    revokedAt: z.string().nullable(),
    revocationReason: z.enum(REVOCATION_REASONS).nullable(),
    keyAlgorithm: z.string(),
    fingerprintSha256: z.string(),
    certificate: z.string(),
    chain: z.string(),
    fullchain: z.string(),
    privateKey: z.string().optional().openapi({ description: 'PKCS#8 PEM, only in the response that generated it' }),
    pkcs12: z
      .string()
      .optional()
      .openapi({ description: 'Base64 DER PKCS#12 (key, certificate, intermediates), when pkcs12Password was sent' }),
    kubernetesSecret: z.string().optional().openapi({ description: 'kubernetes.io/tls Secret YAML, when kubernetesSecret was requested' }),
  })
  .openapi('Certificate');

export const KeyFamilySchema = z.enum(['EC-P256', 'EC-P384', 'RSA', 'Ed25519']);

export const PolicySchema = z
  .object({
    sanTypes: z.array(z.enum(['dns', 'ip', 'uri', 'email'])).min(1),
    dnsSuffixes: z.array(z.string().min(1).max(253)).max(100).optional(),
    allowWildcards: z.boolean().default(false),
    ipCidrs: z.array(z.string().max(64)).max(100).optional(),
    uriPrefixes: z.array(z.string().min(1).max(2048)).max(100).optional(),
    emailDomains: z.array(z.string().min(1).max(253)).max(100).optional(),
    keyAlgorithms: z.array(KeyFamilySchema).min(1).default(['EC-P256', 'EC-P384', 'RSA', 'Ed25519']),
    minRsaBits: z.number().int().min(2048).max(8192).default(2048),
    defaultTtl: TtlSchema.default(90 * 86400),
    maxTtl: TtlSchema.default(397 * 86400),
    issuer: z.string().max(64).optional(),
    acme: z
      .object({
        enabled: z.boolean(),
        requireEab: z.boolean().default(false),
        challenges: z
          .array(z.enum(ACME_CHALLENGE_TYPES))
          .min(1)
          .default([...ACME_CHALLENGE_TYPES]),
      })
      .strict()
      .optional()
      .openapi({ description: 'ACME enrollment at /acme/{profile}/directory (off when absent)' }),
  })
  .strict()
  .openapi('ProfilePolicy');

export const ProfileSchema = z
  .object({
    name: z.string().regex(PROFILE_NAME, 'profile names are lower-case letters, digits and hyphens'),
    kind: z.enum(['server', 'client', 'peer']),
    builtin: z.boolean().optional(),
    policy: PolicySchema,
  })
  .openapi('Profile');

/** GET /api/v1/certificates: one page, newest first. */
export const CertificatePageSchema = z.object({ items: z.array(CertificateSchema), nextCursor: z.string().nullable() });

/** The `{id}` of /api/v1/certificates/{id}/…. */
export const CertificateIdParam = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' } }),
});

// Request and answer types derived from these schemas, for clients (the CLI) and tests:
// `z.input` is what a client may send, `z.output` what the server answers.
export type IssueRequest = z.input<typeof IssueRequestSchema>;
export type Certificate = z.output<typeof CertificateSchema>;
export type CertificatePage = z.output<typeof CertificatePageSchema>;
