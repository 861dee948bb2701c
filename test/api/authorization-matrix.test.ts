/**
 * Issue 11 item 5, the authorization matrix: the status every credential gets from every operation
 * of the API (no token; an unknown, a revoked and an expired one; a token of each single scope; a
 * partner token on its own certificates and another partner's token on them), and the status every
 * console role gets from every console form, each form also posted without its CSRF token.
 *
 * The two matrices are the data at the top, one row per operation or form; below them, how each
 * row is called (a body that succeeds, a fresh fixture where success consumes one, the state the
 * call changes), then the loops. A refused cell must change nothing (neither the row's state nor
 * the audit trail); an allowed cell must change the row's state, so a 2xx means it really acted.
 * Tests below the matrices fail when an API operation or a console form has no row.
 * Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { can, hasScope, ROLE_PERMISSIONS, ROUTE_SCOPES, TOKEN_SCOPES, type Permission, type TokenScope, type UserRole } from '@anvil/ca';
import { cookiePolicy } from '../../apps/server/src/middleware/session.ts';
import { CONSOLE_PATHS } from '../../apps/server/src/routes/ui/index.ts';
import { ConsoleClient } from '../support/console.ts';
import { ADMIN_PASSWORD, createTestAnvil, TEST_DB, type TestAnvil } from '../support/harness.ts';
import { createOpensslCa, type OpensslCa } from '../support/openssl-ca.ts';
import { haveTool, tempDir } from '../support/tools.ts';

// ---- the API matrix ------------------------------------------------------------------------------
//
// Columns: none = no Authorization header, unkn = an unknown token, rvkd = a revoked admin token,
// expd = an expired admin token; a token of one scope each: issu = certificates:issue,
// read = certificates:read, rvke = certificates:revoke, rvk' = revoke (its older name), judg = judge,
// audt = audit, admn = admin; ptnr = a partner token (certificates:issue/read/revoke, limited to the
// client profile and *.partner-a.test) on certificates it issued; othr = partner B's token (same
// scopes, *.partner-b.test) on those same certificates of partner A.

const API_COLUMNS = [
  'none',
  'unknown',
  'revoked',
  'expired',
  'certificates:issue',
  'certificates:read',
  'certificates:revoke',
  'revoke',
  'judge',
  'audit',
  'admin',
  'partner',
  'other',
] as const;
type ApiColumn = (typeof API_COLUMNS)[number];

const API_MATRIX = [
  // none unkn rvkd expd issu read rvke rvk' judg audt admn ptnr othr  operation
  '  401  401  401  401  201  403  403  403  403  403  201  201  403   POST /api/v1/certificates',
  '  401  401  401  401  403  403  200  200  403  403  200  200  404   POST /api/v1/certificates/{id}/revoke',
  '  401  401  401  401  403  403  200  200  403  403  200  200  404   POST /api/v1/certificates/{id}/release',
  '  401  401  401  401  403  403  200  200  403  403  200  200  404   POST /api/v1/certificates/revoke',
  '  401  401  401  401  403  403  200  200  403  403  200  403  403   POST /api/v1/certificates/revoke (by issuer and serial)',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/issuers',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   POST /api/v1/issuers/{name}/revoke',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   POST /api/v1/issuers/{name}/rotate',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   POST /api/v1/issuers/{name}/retire',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/issuers/{name}/cross-certificates',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   POST /api/v1/issuers/backup',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/issuers/import',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/issuers/csr',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/issuers/{name}/certificate',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/profiles',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   PUT /api/v1/profiles/{name}',
  '  401  401  401  401  403  403  403  403  200  403  200  403  403   POST /api/v1/judge',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/tokens',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   POST /api/v1/tokens/{id}/revoke',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/invitations',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   POST /api/v1/invitations/{id}/revoke',
  '  401  401  401  401  403  403  403  403  403  403  201  403  403   POST /api/v1/acme/eab',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   POST /api/v1/acme/eab/{keyId}/revoke',
  // Reads; those of a certificate are on one of partner A's (the listing: each partner sees its own only).
  '  401  401  401  401  403  200  403  403  403  403  200  200  200   GET /api/v1/certificates',
  '  401  401  401  401  403  200  403  403  403  403  200  200  404   GET /api/v1/certificates/{id}',
  '  401  401  401  401  403  200  403  403  403  403  200  200  404   GET /api/v1/certificates/{id}/cert.pem',
  '  401  401  401  401  403  200  403  403  403  403  200  200  404   GET /api/v1/certificates/{id}/chain.pem',
  '  401  401  401  401  403  200  403  403  403  403  200  200  404   GET /api/v1/certificates/{id}/fullchain.pem',
  '  401  401  401  401  403  200  403  403  403  403  200  200  404   GET /api/v1/certificates/{id}/cert.der',
  '  401  401  401  401  403  200  403  403  403  403  200  200  404   GET /api/v1/certificates/{id}/bundle.p7b',
  '  401  401  401  401  403  200  403  403  403  403  200  200  404   GET /api/v1/certificates/{id}/bundle.p7b.pem',
  '  401  401  401  401  403  200  403  403  403  403  200  200  404   GET /api/v1/certificates/{id}/secret.yaml',
  '  401  401  401  401  200  200  200  200  200  200  200  200  200   GET /api/v1/profiles',
  '  401  401  401  401  200  200  200  200  200  200  200  200  200   GET /api/v1/profiles/{name}',
  '  401  401  401  401  200  200  200  200  200  200  200  200  200   GET /api/v1/issuers',
  '  401  401  401  401  200  200  200  200  200  200  200  200  200   GET /api/v1/issuers/{name}/gateway/{kind}',
  '  401  401  401  401  200  200  200  200  200  200  200  200  200   GET /api/v1/issuers/{name}/csr.pem',
  '  401  401  401  401  200  200  200  200  200  200  200  200  200   GET /api/v1/issuers/pending',
  '  401  401  401  401  403  403  403  403  403  200  200  403  403   GET /api/v1/audit',
  '  401  401  401  401  403  403  403  403  403  200  200  403  403   GET /api/v1/audit/export',
  '  401  401  401  401  403  403  403  403  403  200  200  403  403   GET /api/v1/audit/verify',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   GET /api/v1/tokens',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   GET /api/v1/tokens/{id}',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   GET /api/v1/invitations',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   GET /api/v1/invitations/{id}',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   GET /api/v1/acme/eab',
  '  401  401  401  401  403  403  403  403  403  403  200  403  403   GET /api/v1/acme/eab/{keyId}',
];

// ---- the console matrix --------------------------------------------------------------------------
//
// Columns: a signed-out visitor (with the sign-in form's CSRF token) and a signed-in admin, operator
// and auditor (ROLE_PERMISSIONS). `sign-in` is a 303 to the sign-in page (nothing done); 403 is the
// "Not allowed" page; 200 and 303 are the page or redirect of success. Every row is also posted
// without a CSRF token and with another session's: 403 for every row, nothing changed.

const CONSOLE_COLUMNS = ['anonymous', 'admin', 'operator', 'auditor'] as const;
type Persona = (typeof CONSOLE_COLUMNS)[number];

const CONSOLE_MATRIX = [
  // anonymous admin operator auditor  form
  '  303       303   303      303      POST /sign-in',
  '  303       303   303      303      POST /sign-out',
  '  sign-in   303   303      303      POST /account/password',
  '  sign-in   303   303      403      POST /certificates/{id}/release',
  '  sign-in   200   200      403      POST /revoke/review',
  '  sign-in   303   303      403      POST /revoke/confirm',
  '  sign-in   200   200      403      POST /issue',
  '  sign-in   200   200      200      POST /judge',
  '  sign-in   303   303      403      POST /issuers/{name}/crl',
  '  sign-in   303   403      403      POST /issuers/import',
  '  sign-in   303   303      403      POST /profiles',
  '  sign-in   303   303      403      POST /profiles/{name}',
  '  sign-in   200   403      403      POST /users',
  '  sign-in   303   403      403      POST /users/{id}/role',
  '  sign-in   200   403      403      POST /users/{id}/reset-password',
  '  sign-in   303   403      403      POST /users/{id}/disable',
  '  sign-in   303   403      403      POST /users/{id}/enable',
  '  sign-in   200   200      403      POST /tokens',
  '  sign-in   303   303      403      POST /tokens/{id}/revoke',
  '  sign-in   200   200      403      POST /invitations',
  '  sign-in   303   303      403      POST /invitations/{id}/revoke',
  '  sign-in   200   200      403      POST /acme-eab',
  '  sign-in   303   303      403      POST /acme-eab/{keyId}/revoke',
];

// ---- how each row is called ----------------------------------------------------------------------

interface Fixture {
  id?: string;
  name?: string;
  serial?: string;
  issuer?: string;
  /** A CA certificate to import (PEM), its key, and the external root above it. */
  certificate?: string;
  privateKey?: string;
  chain?: string;
  /** An ACME External Account Binding credential's key id. */
  keyId?: string;
}

interface ApiCall {
  /** The ROUTE_SCOPES entry of the operation (null: any valid token). */
  route: string | null;
  /** Called for every cell: a fresh fixture where success consumes one, else a shared one to read. */
  fixture?: () => Promise<Fixture>;
  body?: (fx: Fixture, n: number) => unknown;
  query?: string;
  /** What an allowed call changes and a refused one leaves as it was. */
  state?: (fx: Fixture) => Promise<unknown>;
  /** More to check of a 2xx answer: what is wrong, if anything. */
  check?: (body: any, column: ApiColumn) => string | undefined;
}

const policy = (maxTtl: number) => ({ maxTtl, defaultTtl: 3600, sanTypes: ['dns'], keyAlgorithms: ['EC-P256'] });
const sharedCertificate = async (): Promise<Fixture> => ({ id: shared.id });
const download: ApiCall = { route: 'GET /certificates/{id}/{download}', fixture: sharedCertificate };

const API_CALLS: Record<string, ApiCall> = {
  'POST /api/v1/certificates': {
    route: 'POST /certificates',
    body: (_fx, n) => ({ profile: 'client', subject: { CN: `m${n}.partner-a.test` }, sans: { dns: [`m${n}.partner-a.test`] } }),
    state: certificateCount,
    check: (c, column) => {
      if (column === 'partner') partnerA.issued.add(c.id); // what the listing row expects partner A to see
      return c.status === 'active' ? undefined : `issued ${c.status}`;
    },
  },
  'POST /api/v1/certificates/{id}/revoke': {
    route: 'POST /certificates/{id}/revoke',
    fixture: ownCertificate,
    body: () => ({ reason: 'keyCompromise' }),
    state: certificateStatus,
  },
  'POST /api/v1/certificates/{id}/release': {
    route: 'POST /certificates/{id}/release',
    fixture: heldCertificate,
    state: certificateStatus,
  },
  'POST /api/v1/certificates/revoke': {
    route: 'POST /certificates/revoke',
    fixture: ownCertificate,
    body: (fx) => ({ ids: [fx.id], reason: 'superseded' }),
    state: certificateStatus,
  },
  'POST /api/v1/certificates/revoke (by issuer and serial)': {
    route: 'POST /certificates/revoke',
    fixture: ownCertificate,
    body: (fx) => ({ issuer: fx.issuer, serial: fx.serial, reason: 'superseded' }),
    state: certificateStatus,
  },
  'POST /api/v1/issuers': {
    route: 'POST|PUT /issuers',
    body: (_fx, n) => ({ name: `mx-ca-${n}`, parent: 'root-ca' }),
    state: async () => anvil.authority.issuers().length,
  },
  'POST /api/v1/issuers/{name}/revoke': {
    route: 'POST /issuers/{name}/revoke',
    fixture: freshIssuer,
    body: () => ({ reason: 'cessationOfOperation' }),
    state: async (fx) => anvil.authority.issuerByName(fx.name!).record.status,
  },
  'POST /api/v1/issuers/{name}/rotate': {
    route: 'POST /issuers/{name}/rotate',
    fixture: freshIssuer,
    body: () => ({ to: 'issuing-ca' }),
    state: async (fx) => anvil.authority.issuerByName(fx.name!).record.status,
  },
  'POST /api/v1/issuers/{name}/retire': {
    route: 'POST /issuers/{name}/retire',
    fixture: freshIssuer,
    state: async (fx) => anvil.authority.issuerByName(fx.name!).record.status,
  },
  'POST /api/v1/issuers/{name}/cross-certificates': {
    route: 'POST /issuers/{name}/cross-certificates',
    fixture: async () => ({
      name: (await adminApi('POST', '/api/v1/issuers', { name: `mx-fixture-root-${++counter}`, kind: 'root' })).name,
    }),
    body: () => ({ signer: 'root-ca' }),
    state: async () => (await anvil.authority.crossCertificates()).length,
  },
  'POST /api/v1/issuers/backup': {
    route: 'POST /issuers/backup',
    body: () => ({ passphrase: 'matrix backup passphrase' }),
    state: auditMark, // a backup changes nothing but is audited (issuer.backup)
    check: (b) =>
      b.format === 'anvil-ca-backup' &&
      b.issuers.some((i: { privateKey: string | null }) => i.privateKey?.includes('ENCRYPTED PRIVATE KEY'))
        ? undefined
        : 'no encrypted key in the backup',
  },
  'POST /api/v1/issuers/import': {
    route: 'POST /issuers/import',
    fixture: externalRoot,
    body: (fx, n) => ({ name: `mx-imported-${n}`, certificate: fx.certificate, privateKey: fx.privateKey }),
    state: async () => anvil.authority.issuers().length,
    check: (i) => (i.kind === 'root' ? undefined : `imported as ${i.kind}`),
  },
  'POST /api/v1/issuers/csr': {
    route: 'POST /issuers/csr',
    body: (_fx, n) => ({ name: `mx-pending-${n}` }),
    state: async () => anvil.authority.pendingIssuers().length,
    check: (p) => (p.status === 'pending' && p.csr.includes('BEGIN CERTIFICATE REQUEST') ? undefined : 'no pending issuer with a CSR'),
  },
  'POST /api/v1/issuers/{name}/certificate': {
    route: 'POST /issuers/{name}/certificate',
    fixture: signedPendingIssuer,
    body: (fx) => ({ certificate: fx.certificate, chain: fx.chain }),
    state: async (fx) => anvil.authority.pendingIssuers().some((p) => p.name === fx.name),
    check: (i) => (i.kind === 'intermediate' && anvil.authority.issuerByName(i.name).record.status === 'active' ? undefined : 'not active'),
  },
  'POST /api/v1/profiles': {
    route: 'POST|PUT /profiles',
    body: (_fx, n) => ({ name: `mx-profile-${n}`, kind: 'client', policy: policy(86_400) }),
    state: async () => (await anvil.authority.listProfiles()).length,
  },
  'PUT /api/v1/profiles/{name}': {
    route: 'POST|PUT /profiles',
    fixture: freshProfile,
    body: () => ({ kind: 'client', policy: policy(7200) }),
    state: async (fx) => (await anvil.authority.profile(fx.name!)).policy,
  },
  'POST /api/v1/judge': {
    route: 'POST /judge',
    body: () => ({ chain: shared.fullchain }),
    check: (verdict) => (verdict.status === 'verified' ? undefined : `judged ${verdict.status}`),
  },
  'POST /api/v1/tokens': {
    route: '* /tokens',
    body: (_fx, n) => ({ name: `mx-token-${n}`, scopes: ['certificates:read'] }),
    state: async () => (await anvil.authority.listTokens()).length,
  },
  'POST /api/v1/tokens/{id}/revoke': {
    route: '* /tokens',
    fixture: freshToken,
    state: async (fx) => (await anvil.authority.token(fx.id!)).revokedAt,
  },
  'POST /api/v1/invitations': {
    route: '* /invitations',
    body: (_fx, n) => ({ name: `mx-invitation-${n}`, profile: 'client', sans: { dns: [`i${n}.partner-a.test`] } }),
    state: async () => (await anvil.authority.listInvitations({ limit: 500 })).length,
  },
  'POST /api/v1/invitations/{id}/revoke': {
    route: '* /invitations',
    fixture: freshInvitation,
    state: async (fx) => (await anvil.authority.invitation(fx.id!)).revokedAt,
  },
  'POST /api/v1/acme/eab': {
    route: '* /acme/eab',
    body: (_fx, n) => ({ name: `mx-eab-${n}`, profiles: ['server'] }),
    state: async () => (await anvil.authority.acmeEab.list()).length,
  },
  'POST /api/v1/acme/eab/{keyId}/revoke': {
    route: '* /acme/eab',
    fixture: freshEabCredential,
    state: async (fx) => (await anvil.authority.acmeEab.get(fx.keyId!)).revokedAt,
  },
  'GET /api/v1/certificates': {
    route: 'GET /certificates',
    query: '?limit=500',
    check: (page, column) => {
      const ids: string[] = page.items.map((c: { id: string }) => c.id);
      if (column === 'partner') {
        if (!ids.includes(shared.id) || ids.some((id) => !partnerA.issued.has(id))) return 'partner A sees what it did not issue';
      } else if (column === 'other') {
        if (!ids.includes(partnerBCertificate) || ids.some((id) => partnerA.issued.has(id))) return "partner B sees partner A's";
      } else if (!ids.includes(shared.id) || !ids.includes(partnerBCertificate)) {
        return 'an unlimited token does not see every certificate';
      }
    },
  },
  'GET /api/v1/certificates/{id}': {
    route: 'GET /certificates/{id}',
    fixture: sharedCertificate,
    check: (c) => (c.id === shared.id ? undefined : 'another certificate'),
  },
  'GET /api/v1/certificates/{id}/cert.pem': download,
  'GET /api/v1/certificates/{id}/chain.pem': download,
  'GET /api/v1/certificates/{id}/fullchain.pem': download,
  'GET /api/v1/certificates/{id}/cert.der': download,
  'GET /api/v1/certificates/{id}/bundle.p7b': download,
  'GET /api/v1/certificates/{id}/bundle.p7b.pem': download,
  'GET /api/v1/certificates/{id}/secret.yaml': download,
  'GET /api/v1/profiles': { route: null },
  'GET /api/v1/profiles/{name}': { route: null, fixture: async () => ({ name: 'client' }) },
  'GET /api/v1/issuers': { route: null },
  // Public facts (trust and CRL URLs) like GET /issuers: any valid token. `fill` takes {kind} from the fixture too.
  'GET /api/v1/issuers/{name}/gateway/{kind}': { route: null, fixture: async () => ({ name: 'issuing-ca', kind: 'nginx' }) as Fixture },
  'GET /api/v1/issuers/{name}/csr.pem': {
    route: null,
    fixture: async () => ({ name: sharedPending }),
    check: (pem) => (pem.includes('BEGIN CERTIFICATE REQUEST') ? undefined : 'no CSR'),
  },
  'GET /api/v1/issuers/pending': {
    route: null,
    check: (page) => (page.items.some((p: { name: string }) => p.name === sharedPending) ? undefined : 'the pending issuer is not listed'),
  },
  'GET /api/v1/audit': { route: 'GET /audit' },
  'GET /api/v1/audit/export': { route: 'GET /audit' },
  'GET /api/v1/audit/verify': { route: 'GET /audit' },
  'GET /api/v1/tokens': { route: '* /tokens' },
  'GET /api/v1/tokens/{id}': { route: '* /tokens', fixture: async () => ({ id: partnerA.id }) },
  'GET /api/v1/invitations': { route: '* /invitations' },
  'GET /api/v1/invitations/{id}': { route: '* /invitations', fixture: async () => ({ id: sharedInvitation }) },
  'GET /api/v1/acme/eab': { route: '* /acme/eab' },
  'GET /api/v1/acme/eab/{keyId}': { route: '* /acme/eab', fixture: freshEabCredential },
};

type Fields = Record<string, string | string[]>;

interface Session {
  cookie: string;
  csrf: string;
  /** The session cookie's value (absent: a signed-out visitor's pre-session). */
  token?: string;
}

interface ConsoleFixture extends Fixture {
  /** The session to post with instead of the persona's own (one the call ends or changes). */
  session?: Session;
  userId?: string;
  password?: string;
}

interface ConsoleCall {
  /** The ROLE_PERMISSIONS entry the form needs (null: any signed-in user, or anyone). */
  needs: Permission | null;
  /** Made afresh for every cell, for the persona posting. */
  fixture?: (persona: Persona) => Promise<ConsoleFixture>;
  path?: (fx: ConsoleFixture) => string;
  fields?: (fx: ConsoleFixture, n: number, persona: Persona) => Fields;
  /** What an allowed post changes and a refused one leaves as it was (undefined: nothing to compare). */
  state?: (fx: ConsoleFixture) => Promise<unknown>;
}

const profileForm = (name: string, maxTtl: string): Fields => ({
  name,
  kind: 'client',
  sanTypes: ['dns'],
  dnsSuffixes: '',
  ipCidrs: '',
  uriPrefixes: '',
  emailDomains: '',
  keyAlgorithms: ['EC-P256'],
  minRsaBits: '2048',
  defaultTtl: '1h',
  maxTtl,
  issuer: '',
});
const userState = (key: 'role' | 'passwordHash' | 'disabledAt') => async (fx: ConsoleFixture) =>
  (await anvil.authority.users.user(fx.userId!))[key];

const CONSOLE_CALLS: Record<string, ConsoleCall> = {
  'POST /sign-in': {
    needs: null,
    fields: (_fx, _n, persona) => ({
      username: persona === 'anonymous' ? 'admin' : persona,
      password: passwords[persona === 'anonymous' ? 'admin' : persona],
    }),
    state: auditMark, // a sign-in is audited
  },
  'POST /sign-out': {
    needs: null,
    fixture: async (persona) => (persona === 'anonymous' ? {} : { session: await signIn(persona, passwords[persona]) }),
    state: async (fx) => (fx.session ? (await anvil.authority.users.session(fx.session.token!)) !== null : undefined),
  },
  'POST /account/password': {
    needs: null,
    fixture: async (persona) => (persona === 'anonymous' ? {} : freshUser(persona, true)),
    fields: (fx, n) => ({ current: fx.password ?? '', next: `changed passphrase ${n}`, confirm: `changed passphrase ${n}` }),
    state: async (fx) => (fx.userId ? userState('passwordHash')(fx) : undefined),
  },
  'POST /certificates/{id}/release': { needs: 'revoke', fixture: heldCertificate, state: certificateStatus },
  'POST /revoke/review': { needs: 'revoke', fixture: sharedCertificate, fields: (fx) => ({ id: fx.id! }) },
  'POST /revoke/confirm': {
    needs: 'revoke',
    fixture: ownCertificate,
    fields: (fx) => ({ id: fx.id!, reason: 'keyCompromise' }),
    state: certificateStatus,
  },
  'POST /issue': {
    needs: 'issue',
    fields: (_fx, n) => ({
      nonce: randomBytes(24).toString('base64url'),
      profile: 'client',
      keySource: 'generate',
      keyAlgorithm: 'EC-P256',
      CN: `console-${n}.test`,
      dns: `console-${n}.test`,
    }),
    state: certificateCount,
  },
  'POST /judge': { needs: 'judge', fields: () => ({ chain: shared.fullchain, purpose: 'client', trust: 'anvil' }) },
  'POST /issuers/{name}/crl': {
    needs: 'issuers',
    fixture: async () => ({ name: 'issuing-ca' }),
    state: async (fx) => (await anvil.authority.crlHeader(anvil.authority.issuerByName(fx.name!)))?.number.toString(),
  },
  'POST /issuers/import': {
    needs: 'ca-keys',
    fixture: externalRoot,
    fields: (fx, n) => ({
      name: `mx-console-import-${n}`,
      certificate: fx.certificate!,
      privateKey: fx.privateKey!,
      chain: '',
      passphrase: '',
    }),
    state: async () => anvil.authority.issuers().length,
  },
  'POST /profiles': {
    needs: 'profiles',
    fields: (_fx, n) => profileForm(`mx-console-profile-${n}`, '1d'),
    state: async () => (await anvil.authority.listProfiles()).length,
  },
  'POST /profiles/{name}': {
    needs: 'profiles',
    fixture: freshProfile,
    fields: (fx) => profileForm(fx.name!, '2d'),
    state: async (fx) => (await anvil.authority.profile(fx.name!)).policy,
  },
  'POST /users': {
    needs: 'users',
    fields: (_fx, n) => ({ username: `mx-user-${n}`, role: 'auditor' }),
    state: async () => (await anvil.authority.users.list()).length,
  },
  'POST /users/{id}/role': {
    needs: 'users',
    fixture: () => freshUser('auditor'),
    path: (fx) => `/users/${fx.userId}/role`,
    fields: () => ({ role: 'operator' }),
    state: userState('role'),
  },
  'POST /users/{id}/reset-password': {
    needs: 'users',
    fixture: () => freshUser('auditor'),
    path: (fx) => `/users/${fx.userId}/reset-password`,
    state: userState('passwordHash'),
  },
  'POST /users/{id}/disable': {
    needs: 'users',
    fixture: () => freshUser('auditor'),
    path: (fx) => `/users/${fx.userId}/disable`,
    state: userState('disabledAt'),
  },
  'POST /users/{id}/enable': {
    needs: 'users',
    fixture: async () => {
      const fx = await freshUser('auditor');
      await anvil.authority.users.disable(fx.userId!, TEST_ACTOR);
      return fx;
    },
    path: (fx) => `/users/${fx.userId}/enable`,
    state: userState('disabledAt'),
  },
  'POST /tokens': {
    needs: 'tokens',
    fields: (_fx, n) => ({ name: `mx-console-token-${n}`, scopes: 'judge' }),
    state: async () => (await anvil.authority.listTokens()).length,
  },
  'POST /tokens/{id}/revoke': {
    needs: 'tokens',
    fixture: freshToken,
    state: async (fx) => (await anvil.authority.token(fx.id!)).revokedAt,
  },
  'POST /invitations': {
    needs: 'issue',
    fields: (_fx, n) => ({ name: `mx-console-invitation-${n}`, profile: 'client', names: `k${n}.partner-a.test` }),
    state: async () => (await anvil.authority.listInvitations({ limit: 500 })).length,
  },
  'POST /invitations/{id}/revoke': {
    needs: 'issue',
    fixture: freshInvitation,
    state: async (fx) => (await anvil.authority.invitation(fx.id!)).revokedAt,
  },
  'POST /acme-eab': {
    needs: 'tokens',
    fields: (_fx, n) => ({ name: `mx-console-eab-${n}`, profiles: 'server' }),
    state: async () => (await anvil.authority.acmeEab.list()).length,
  },
  'POST /acme-eab/{keyId}/revoke': {
    needs: 'tokens',
    fixture: freshEabCredential,
    state: async (fx) => (await anvil.authority.acmeEab.get(fx.keyId!)).revokedAt,
  },
};

// ---- the Anvil, its credentials and fixtures -----------------------------------------------------

let anvil: TestAnvil;
const TEST_ACTOR = { id: 'test', name: 'authorization matrix', source: null };
/** The Authorization header of each API column (null: none sent). */
const bearer = {} as Record<ApiColumn, string | null>;
let partnerA: { id: string; token: string; issued: Set<string> };
let partnerB: { id: string; token: string };
/** Partner A's certificate every read is of. */
let shared: { id: string; fullchain: string };
let partnerBCertificate: string;
let sharedInvitation: string;
/** A pending intermediate every CSR read is of. */
let sharedPending: string;
/** Where the external CAs of the import rows live, and the root that signs pending intermediates. */
let externalDir: string;
let externalCa: OpensslCa;
const sessions = {} as Record<Persona, Session>;
const passwords: Record<Persona, string> = {
  anonymous: '',
  admin: ADMIN_PASSWORD,
  operator: 'operator passphrase for the matrix',
  auditor: 'auditor passphrase for the matrix',
};
let counter = 0;

async function adminApi(method: string, path: string, body?: unknown): Promise<any> {
  const res = await anvil.api(method, path, body);
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function issueAs(token: string, dns: string): Promise<{ id: string; serial: string; issuer: string; fullchain: string }> {
  const res = await anvil.api(
    'POST',
    '/api/v1/certificates',
    { profile: 'client', subject: { CN: dns }, sans: { dns: [dns] } },
    {
      authorization: `Bearer ${token}`,
    },
  );
  if (res.status !== 201) throw new Error(`issuance of ${dns}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** A certificate partner A issued (the revocations of the matrix act on these). */
async function ownCertificate(): Promise<Fixture> {
  const issued = await issueAs(partnerA.token, `f${++counter}.partner-a.test`);
  partnerA.issued.add(issued.id);
  return { id: issued.id, serial: issued.serial, issuer: issued.issuer };
}

/** One of partner A's certificates, on hold (revoked with certificateHold, to be released). */
async function heldCertificate(): Promise<Fixture> {
  const fx = await ownCertificate();
  await adminApi('POST', `/api/v1/certificates/${fx.id}/revoke`, { reason: 'certificateHold' });
  return fx;
}

async function freshIssuer(): Promise<Fixture> {
  return { name: (await adminApi('POST', '/api/v1/issuers', { name: `mx-fixture-ca-${++counter}`, parent: 'root-ca' })).name };
}

/** A new self-signed CA made by openssl, with its key: imported as a root. */
async function externalRoot(): Promise<Fixture> {
  const n = ++counter;
  const ca = createOpensslCa(join(externalDir, `root-${n}`), `Matrix Import Root ${n}`);
  return { certificate: ca.rootPem, privateKey: readFileSync(ca.rootKeyPath, 'utf8') };
}

/** A new pending intermediate, and its certificate signed by the external root. */
async function signedPendingIssuer(): Promise<Fixture> {
  const pending = await adminApi('POST', '/api/v1/issuers/csr', { name: `mx-fixture-pending-${++counter}` });
  return { name: pending.name, certificate: externalCa.sign(pending.csr), chain: externalCa.rootPem };
}

async function freshProfile(): Promise<Fixture> {
  const name = `mx-fixture-profile-${++counter}`;
  await adminApi('POST', '/api/v1/profiles', { name, kind: 'client', policy: policy(86_400) });
  return { name };
}

async function freshToken(): Promise<Fixture> {
  return { id: (await adminApi('POST', '/api/v1/tokens', { name: `mx-fixture-token-${++counter}`, scopes: ['judge'] })).id };
}

async function freshEabCredential(): Promise<Fixture> {
  return { keyId: (await adminApi('POST', '/api/v1/acme/eab', { name: `mx-fixture-eab-${++counter}`, profiles: ['server'] })).keyId };
}

async function freshInvitation(): Promise<Fixture> {
  const n = ++counter;
  return {
    id: (
      await adminApi('POST', '/api/v1/invitations', { name: `mx-fixture-${n}`, profile: 'client', sans: { dns: [`j${n}.partner-a.test`] } })
    ).id,
  };
}

async function certificateCount(): Promise<number> {
  return (await anvil.authority.certificateCounts()).reduce((n, r) => n + r.count, 0);
}

async function certificateStatus(fx: Fixture): Promise<string> {
  return (await anvil.authority.certificate(fx.id!)).status;
}

/** The newest successful audit row: every change writes one, so a refusal must leave it the newest. */
async function auditMark(): Promise<string | undefined> {
  return (await anvil.authority.listAudit({ limit: 1, outcome: 'success' }))[0]?.id;
}

/** A console session of `username`, and the CSRF token its pages carry. */
async function signIn(username: string, password: string): Promise<Session> {
  const client = new ConsoleClient(anvil);
  const landed = await client.signIn(username, password);
  if (landed.status !== 200 || landed.url === '/sign-in') throw new Error(`sign-in of ${username} failed: ${landed.status}`);
  await client.get('/account/password'); // a page with a form, whatever the user must do first
  const name = cookiePolicy(anvil.publicUrl).session;
  const token = client.cookie(name)!;
  return { cookie: `${name}=${token}`, csrf: client.csrf, token };
}

/** A new user of `role` (argon2: about 50 ms), signed in when asked (then with its first password still to change). */
async function freshUser(role: UserRole, signedIn = false): Promise<ConsoleFixture> {
  const created = await anvil.authority.users.create({ username: `mx-${role}-${++counter}`, role }, TEST_ACTOR);
  return {
    userId: created.user.id,
    password: created.password,
    session: signedIn ? await signIn(created.user.username, created.password) : undefined,
  };
}

/** The persona's user, its first password changed to the one the matrix knows. */
async function persona(role: 'operator' | 'auditor'): Promise<Session> {
  const created = await anvil.authority.users.create({ username: role, role }, TEST_ACTOR);
  const session = await signIn(role, created.password);
  const changed = await consolePost(session, '/account/password', {
    current: created.password,
    next: passwords[role],
    confirm: passwords[role],
  });
  if (changed.status !== 303) throw new Error(`password change of ${role}: ${changed.status}`);
  return session;
}

async function consolePost(session: Session, path: string, fields: Fields, csrf: string | null = session.csrf) {
  const form = new URLSearchParams();
  if (csrf !== null) form.append('_csrf', csrf);
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  const res = await anvil.app.request(path, {
    method: 'POST',
    headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  return { status: res.status, location: res.headers.get('location'), text: await res.text() };
}

beforeAll(async () => {
  haveTool('openssl');
  anvil = await createTestAnvil();
  externalDir = tempDir('anvil-matrix-');
  externalCa = createOpensslCa(join(externalDir, 'external'), 'Matrix External Root');
  const token = async (body: Record<string, unknown>) => (await adminApi('POST', '/api/v1/tokens', body)) as { id: string; token: string };
  // Expired: valid for 1.5 s from now, used only once the rest is set up.
  const expiresAt = Date.now() + 1500;
  const expired = await token({ name: 'matrix-expired', scopes: ['admin'], expiresAt: new Date(expiresAt).toISOString() });
  const revoked = await token({ name: 'matrix-revoked', scopes: ['admin'] });
  await adminApi('POST', `/api/v1/tokens/${revoked.id}/revoke`);
  const partnerScopes = ['certificates:issue', 'certificates:read', 'certificates:revoke'];
  const a = await token({ name: 'matrix-partner-a', scopes: partnerScopes, profiles: ['client'], sanPatterns: ['*.partner-a.test'] });
  partnerA = { ...a, issued: new Set() };
  partnerB = await token({ name: 'matrix-partner-b', scopes: partnerScopes, profiles: ['client'], sanPatterns: ['*.partner-b.test'] });
  Object.assign(bearer, {
    none: null,
    unknown: `anvil_${randomBytes(32).toString('base64url')}`,
    revoked: revoked.token,
    expired: expired.token,
    partner: partnerA.token,
    other: partnerB.token,
  });
  for (const scope of TOKEN_SCOPES) bearer[scope] = (await token({ name: `matrix-${scope}`, scopes: [scope] })).token;

  const issued = await issueAs(partnerA.token, 'shared.partner-a.test');
  partnerA.issued.add(issued.id);
  shared = issued;
  partnerBCertificate = (await issueAs(partnerB.token, 'own.partner-b.test')).id;
  sharedInvitation = (await freshInvitation()).id!;
  sharedPending = (await adminApi('POST', '/api/v1/issuers/csr', { name: 'mx-shared-pending' })).name;

  const visitor = new ConsoleClient(anvil);
  await visitor.get('/sign-in');
  const pre = cookiePolicy(anvil.publicUrl).preSession;
  sessions.anonymous = { cookie: `${pre}=${visitor.cookie(pre)}`, csrf: visitor.csrf };
  sessions.admin = await signIn('admin', ADMIN_PASSWORD);
  sessions.operator = await persona('operator');
  sessions.auditor = await persona('auditor');

  await new Promise((r) => setTimeout(r, Math.max(0, expiresAt + 50 - Date.now())));
});

afterAll(async () => {
  await anvil?.close();
  if (externalDir) rmSync(externalDir, { recursive: true, force: true });
});

// ---- the loops -----------------------------------------------------------------------------------

function parse<C extends string>(columns: readonly C[], line: string): { op: string; want: Record<C, string> } {
  const parts = line.trim().split(/\s+/);
  return { op: parts.slice(columns.length).join(' '), want: Object.fromEntries(columns.map((c, i) => [c, parts[i]])) as Record<C, string> };
}

/** "POST /api/v1/certificates/revoke (by issuer and serial)" -> method and path. */
function endpoint(op: string): { method: string; path: string } {
  const [method, path] = op.split(' ');
  return { method, path };
}

const fill = (path: string, fx: Fixture) =>
  path.replace(/\{(\w+)\}/g, (_, k: 'id' | 'name' | 'keyId') => encodeURIComponent(fx[k] ?? 'missing'));
const apiRows = API_MATRIX.map((line) => parse(API_COLUMNS, line));
const consoleRows = CONSOLE_MATRIX.map((line) => parse(CONSOLE_COLUMNS, line));
const mutating = (method: string) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method);
/** Hono's `/:id` as the document's `/{id}`. */
const documentPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

describe(`authorization matrix, API (${TEST_DB})`, () => {
  it('has one row per operation of the OpenAPI document and per mutating /api/v1 route, each with its call', async () => {
    const doc = (await (await anvil.app.request('/api/v1/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const routed = anvil.app.routes
      .filter((r) => r.path.startsWith('/api/v1/') && mutating(r.method))
      .map((r) => `${r.method} ${documentPath(r.path)}`);
    const endpoints = new Set(apiRows.map((r) => r.op.split(' ').slice(0, 2).join(' ')));
    expect(
      [...new Set([...documented, ...routed])].filter((op) => !endpoints.has(op)),
      'operations without a row',
    ).toEqual([]);
    expect(
      [...endpoints].filter((op) => !documented.includes(op)),
      'rows of no documented operation',
    ).toEqual([]);
    expect(Object.keys(API_CALLS).sort()).toEqual(apiRows.map((r) => r.op).sort());
    expect(apiRows.every((r) => Object.values(r.want).every((s) => /^\d{3}$/.test(s)))).toBe(true);
  });

  it('has a column for every token scope, and its statuses follow ROUTE_SCOPES', () => {
    const scopeColumns = API_COLUMNS.filter((c): c is TokenScope => (TOKEN_SCOPES as readonly string[]).includes(c));
    expect([...scopeColumns].sort()).toEqual([...TOKEN_SCOPES].sort());
    const scopes = ROUTE_SCOPES as Record<string, TokenScope>;
    for (const { op, want } of apiRows) {
      const { route } = API_CALLS[op];
      if (route !== null) expect(scopes[route], `${op}: ROUTE_SCOPES['${route}']`).toBeDefined();
      for (const column of scopeColumns) {
        const allowed = route === null || hasScope([column], scopes[route]);
        expect(want[column].startsWith('2'), `${op} with a ${column} token`).toBe(allowed);
      }
    }
  });

  for (const { op, want } of apiRows) {
    it(op, async () => {
      const call = API_CALLS[op];
      const { method, path } = endpoint(op);
      const got = {} as Record<ApiColumn, string>;
      const problems: string[] = [];
      for (const column of API_COLUMNS) {
        const n = ++counter;
        const fx = (await call.fixture?.()) ?? {};
        const body = call.body?.(fx, n);
        const before = await call.state?.(fx);
        const mark = await auditMark();
        const auth = bearer[column];
        const res = await anvil.app.request(fill(path, fx) + (call.query ?? ''), {
          method,
          headers: {
            ...(auth ? { authorization: `Bearer ${auth}` } : {}),
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        got[column] = String(res.status);
        if (got[column] !== want[column]) problems.push(`${column}: ${res.status} ${text.slice(0, 200)}`);
        const after = await call.state?.(fx);
        if (res.status >= 400) {
          if (!isDeepStrictEqual(after, before))
            problems.push(`${column}: refused with ${res.status}, yet ${String(before)} became ${String(after)}`);
          if ((await auditMark()) !== mark) problems.push(`${column}: refused with ${res.status}, yet a change was audited`);
        } else {
          if (call.state && isDeepStrictEqual(after, before)) problems.push(`${column}: ${res.status}, yet nothing changed`);
          const wrong = call.check?.(/json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text, column);
          if (wrong) problems.push(`${column}: ${wrong}`);
        }
      }
      expect({ statuses: got, problems }).toEqual({ statuses: want, problems: [] });
    });
  }
});

describe(`authorization matrix, console (${TEST_DB})`, () => {
  it('has one row per console form (every POST route under the console paths), each with its call', () => {
    const consolePath = (path: string) => CONSOLE_PATHS.some((p) => p !== '/' && (path === p || path.startsWith(`${p}/`)));
    const forms = new Set(
      anvil.app.routes.filter((r) => r.method === 'POST' && consolePath(r.path)).map((r) => `POST ${documentPath(r.path)}`),
    );
    const rows = consoleRows.map((r) => r.op);
    expect(
      [...forms].filter((f) => !rows.includes(f)),
      'forms without a row',
    ).toEqual([]);
    expect(
      rows.filter((f) => !forms.has(f)),
      'rows of no form',
    ).toEqual([]);
    expect(Object.keys(CONSOLE_CALLS).sort()).toEqual([...rows].sort());
  });

  it('the role columns follow ROLE_PERMISSIONS', () => {
    expect(Object.keys(ROLE_PERMISSIONS).sort()).toEqual(CONSOLE_COLUMNS.filter((c) => c !== 'anonymous').sort());
    for (const { op, want } of consoleRows) {
      const { needs } = CONSOLE_CALLS[op];
      for (const role of ['admin', 'operator', 'auditor'] as const) {
        expect(want[role] === '403', `${op} as ${role}`).toBe(needs !== null && !can(role, needs));
      }
    }
  });

  /** Posts one cell; what went wrong besides the status. */
  async function post(op: string, persona: Persona, csrf: 'own' | 'none' | 'foreign', want: string | null) {
    const call = CONSOLE_CALLS[op];
    const n = ++counter;
    const fx = (await call.fixture?.(persona)) ?? {};
    const session = fx.session ?? sessions[persona];
    const token = csrf === 'own' ? session.csrf : csrf === 'foreign' ? sessions.operator.csrf : null;
    const before = await call.state?.(fx);
    const mark = await auditMark();
    const res = await consolePost(session, call.path?.(fx) ?? fill(endpoint(op).path, fx), call.fields?.(fx, n, persona) ?? {}, token);
    const got = res.status === 303 && res.location?.startsWith('/sign-in?') ? 'sign-in' : String(res.status);
    const problems: string[] = [];
    if (want !== null && got !== want) problems.push(`${got}${res.location ? ` to ${res.location}` : ''}: ${res.text.slice(0, 200)}`);
    const after = await call.state?.(fx);
    if (got === '403' || got === 'sign-in' || got.startsWith('4')) {
      if (!isDeepStrictEqual(after, before)) problems.push(`refused (${got}), yet ${String(before)} became ${String(after)}`);
      if ((await auditMark()) !== mark) problems.push(`refused (${got}), yet a change was audited`);
    } else if (after !== undefined && isDeepStrictEqual(after, before)) {
      problems.push(`${got}, yet nothing changed`);
    }
    return { got, problems };
  }

  for (const { op, want } of consoleRows) {
    it(op, async () => {
      const got = {} as Record<Persona, string>;
      const problems: string[] = [];
      for (const persona of CONSOLE_COLUMNS) {
        const cell = await post(op, persona, 'own', want[persona]);
        got[persona] = cell.got;
        problems.push(...cell.problems.map((p) => `${persona}: ${p}`));
      }
      expect({ statuses: got, problems }).toEqual({ statuses: want, problems: [] });
    });

    it(`${op}: 403 without a CSRF token (signed in or out) and with another session's; nothing changed`, async () => {
      const cells = {
        'admin, no token': await post(op, 'admin', 'none', '403'),
        "admin, the operator's token": await post(op, 'admin', 'foreign', '403'),
        'signed out, no token': await post(op, 'anonymous', 'none', '403'),
      };
      expect(Object.entries(cells).flatMap(([what, c]) => c.problems.map((p) => `${what}: ${p}`))).toEqual([]);
    });
  }
});
