/**
 * ACME External Account Binding credentials (RFC 8555 7.3.4): the admin API (create / list / get /
 * revoke, audited; the HMAC key shown once, stored only encrypted under the KEK), the 422 refusals
 * of a scoped token's limits, and `bind` as the new-account transaction calls it, with HS256 JWSs
 * built here with node:crypto: good MAC, wrong MAC, wrong url, another key as payload, a nonce,
 * revoked, expired, a profile outside the limits, a second bind, and two binds racing.
 * Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL.
 */
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { AcmeProblem } from '@anvil/ca';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
beforeAll(async () => {
  anvil = await createTestAnvil();
});
afterAll(async () => {
  await anvil?.close();
});

const NEW_ACCOUNT_URL = 'http://anvil.test/acme/server/new-account';

async function json(res: Response | Promise<Response>): Promise<{ status: number; body: any }> {
  const r = await res;
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function createEab(body: Record<string, unknown>): Promise<{ keyId: string; hmacKey: string }> {
  const r = await json(anvil.api('POST', '/api/v1/acme/eab', body));
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

const accountJwk = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as JsonWebKey;
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** The externalAccountBinding object an ACME client sends (RFC 8555 7.3.4). */
function eabJws(p: { keyId: string; hmacKey: string; jwk: JsonWebKey; url?: string; header?: Record<string, unknown> }) {
  const protectedB64 = b64({ alg: 'HS256', kid: p.keyId, url: p.url ?? NEW_ACCOUNT_URL, ...p.header });
  const payload = b64(p.jwk);
  const signature = createHmac('sha256', Buffer.from(p.hmacKey, 'base64url')).update(`${protectedB64}.${payload}`).digest('base64url');
  return { protected: protectedB64, payload, signature };
}

function bind(eab: unknown, jwk: JsonWebKey, opts: { profile?: string; now?: Date; accountId?: string } = {}) {
  return anvil.store.transaction((tx) =>
    anvil.authority.acmeEab.bind(
      tx,
      { eab, accountJwk: jwk, url: NEW_ACCOUNT_URL, profile: opts.profile ?? 'server', accountId: opts.accountId ?? randomUUID() },
      opts.now ?? new Date(),
    ),
  );
}

async function refusal(p: Promise<unknown>): Promise<AcmeProblem> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('the binding was accepted');
}

describe('EAB credential management', () => {
  it('creates, lists, reads and revokes; the HMAC key is shown once and stored only encrypted', async () => {
    const created = await createEab({ name: 'team-a', profiles: ['server'], sanPatterns: ['*.team-a.test'], subject: { O: 'Team A' } });
    expect(created.keyId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(created.hmacKey, 'base64url')).toHaveLength(32);

    const list = await json(anvil.api('GET', '/api/v1/acme/eab'));
    expect(list.status).toBe(200);
    const listed = list.body.items.find((c: { keyId: string }) => c.keyId === created.keyId);
    expect(listed).toMatchObject({
      name: 'team-a',
      profiles: ['server'],
      sanPatterns: ['*.team-a.test'],
      subject: { O: 'Team A' },
      status: 'unused',
      boundAt: null,
      accountId: null,
    });
    expect(JSON.stringify(list.body)).not.toContain(created.hmacKey);

    const one = await json(anvil.api('GET', `/api/v1/acme/eab/${created.keyId}`));
    expect(one.body).toMatchObject({ keyId: created.keyId, status: 'unused' });

    // At rest: a KEK blob bound to its key id, never the key itself.
    const row = (await anvil.store.acmeEab.getEabCredential(created.keyId))!;
    const key = Buffer.from(created.hmacKey, 'base64url');
    expect(Buffer.from(row.encryptedHmacKey).includes(key)).toBe(false);
    expect(Buffer.from(anvil.database.kek.decrypt(row.encryptedHmacKey, `acme-eab:${created.keyId}`)).equals(key)).toBe(true);
    expect(() => anvil.database.kek.decrypt(row.encryptedHmacKey, 'acme-eab:another')).toThrow();

    const revoked = await json(anvil.api('POST', `/api/v1/acme/eab/${created.keyId}/revoke`));
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe('revoked');
    // Revoking again changes nothing and writes no second audit row.
    expect((await json(anvil.api('POST', `/api/v1/acme/eab/${created.keyId}/revoke`))).body.status).toBe('revoked');

    const audit = (await json(anvil.api('GET', '/api/v1/audit?limit=500'))).body.items as Array<{ action: string; target: string }>;
    expect(audit.filter((e) => e.action === 'acme.eab.create' && e.target === created.keyId)).toHaveLength(1);
    expect(audit.filter((e) => e.action === 'acme.eab.revoke' && e.target === created.keyId)).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain(created.hmacKey);
  });

  it.each([
    [{ name: 'x', profiles: [] }, 400, 'validation_failed'],
    [{ name: 'x' }, 400, 'validation_failed'],
    [{ name: 'x', profiles: ['no-such-profile'] }, 422, 'unknown_profile'],
    [{ name: 'x', profiles: ['server'], sanPatterns: ['*.'] }, 422, 'invalid_san_pattern'],
    [{ name: 'x', profiles: ['server'], subject: { XX: 'y' } }, 422, 'invalid_token_subject'],
    [{ name: 'x', profiles: ['server'], expiresAt: '2001-01-01T00:00:00Z' }, 422, 'expiry_in_past'],
    [{ name: '', profiles: ['server'] }, 422, 'invalid_token_name'],
    [{ name: 'x', profiles: ['server'], scopes: ['admin'] }, 400, 'validation_failed'],
  ])('refuses %o with %i %s and stores nothing', async (body, status, code) => {
    const before = (await anvil.store.acmeEab.listEabCredentials()).length;
    const r = await json(anvil.api('POST', '/api/v1/acme/eab', body));
    expect(r.status).toBe(status);
    expect(r.body.code).toBe(code);
    expect((await anvil.store.acmeEab.listEabCredentials()).length).toBe(before);
  });

  it('unknown and malformed key ids are 404 / 400; a non-admin token is refused', async () => {
    expect((await json(anvil.api('GET', '/api/v1/acme/eab/AAAAAAAAAAAAAAAAAAAAAA'))).status).toBe(404);
    expect((await json(anvil.api('POST', '/api/v1/acme/eab/AAAAAAAAAAAAAAAAAAAAAA/revoke'))).status).toBe(404);
    expect((await json(anvil.api('GET', '/api/v1/acme/eab/bad%20id'))).status).toBe(400);
    const reader = await json(anvil.api('POST', '/api/v1/tokens', { name: 'reader', scopes: ['certificates:read'] }));
    const r = await anvil.api('GET', '/api/v1/acme/eab', undefined, { authorization: `Bearer ${reader.body.token}` });
    expect(r.status).toBe(403);
  });
});

describe('bind (new-account with externalAccountBinding)', () => {
  it('binds once, with its limits, audited with the account as actor; a second bind is unauthorized', async () => {
    const cred = await createEab({ name: 'bind-once', profiles: ['server'], sanPatterns: ['*.bind.test'] });
    const jwk = accountJwk();
    const accountId = randomUUID();
    const binding = await bind(eabJws({ ...cred, jwk }), jwk, { accountId });
    expect(binding).toEqual({ keyId: cred.keyId, limits: { profiles: ['server'], sanPatterns: ['*.bind.test'] } });
    const view = (await json(anvil.api('GET', `/api/v1/acme/eab/${cred.keyId}`))).body;
    expect(view).toMatchObject({ status: 'bound', accountId });
    const again = await refusal(bind(eabJws({ ...cred, jwk }), jwk));
    expect(again.type).toBe('unauthorized');
    const audit = (await json(anvil.api('GET', '/api/v1/audit?limit=500'))).body.items as Array<{
      action: string;
      target: string;
      actor: string;
    }>;
    const row = audit.find((e) => e.action === 'acme.eab.bind' && e.target === cred.keyId);
    expect(row?.actor).toContain(`acme:${accountId}`);
  });

  it('refuses a wrong MAC, an unknown kid, a revoked, an expired and an other-profile credential as unauthorized, binding nothing', async () => {
    const jwk = accountJwk();
    const cred = await createEab({ name: 'refusals', profiles: ['server'], expiresAt: new Date(Date.now() + 3600_000).toISOString() });
    const wrongKey = { ...cred, hmacKey: Buffer.alloc(32, 7).toString('base64url') };
    expect((await refusal(bind(eabJws({ ...wrongKey, jwk }), jwk))).type).toBe('unauthorized');
    expect((await refusal(bind(eabJws({ ...cred, keyId: 'AAAAAAAAAAAAAAAAAAAAAA', jwk }), jwk))).type).toBe('unauthorized');
    const later = new Date(Date.now() + 7200_000);
    expect((await refusal(bind(eabJws({ ...cred, jwk }), jwk, { now: later }))).detail).toContain('expired');
    expect((await refusal(bind(eabJws({ ...cred, jwk }), jwk, { profile: 'client' }))).detail).toContain('profile');
    expect((await json(anvil.api('GET', `/api/v1/acme/eab/${cred.keyId}`))).body.status).toBe('unused');
    await json(anvil.api('POST', `/api/v1/acme/eab/${cred.keyId}/revoke`));
    expect((await refusal(bind(eabJws({ ...cred, jwk }), jwk))).type).toBe('unauthorized');
  });

  it('refuses a JWS that is not the RFC 8555 7.3.4 shape as malformed', async () => {
    const jwk = accountJwk();
    const cred = await createEab({ name: 'shapes', profiles: ['server'] });
    const cases: Array<[string, unknown]> = [
      ['another url', eabJws({ ...cred, jwk, url: 'http://anvil.test/acme/server/new-order' })],
      ['another key as payload', eabJws({ ...cred, jwk: accountJwk() })],
      ['a nonce', eabJws({ ...cred, jwk, header: { nonce: 'abc' } })],
      ['alg RS256', eabJws({ ...cred, jwk, header: { alg: 'RS256' } })],
      ['alg none', eabJws({ ...cred, jwk, header: { alg: 'none' } })],
      ['no kid', eabJws({ ...cred, jwk, header: { kid: undefined } })],
      ['not an object', 'a string'],
      ['extra member', { ...eabJws({ ...cred, jwk }), header: {} }],
    ];
    for (const [label, eab] of cases) {
      const p = await refusal(bind(eab, jwk));
      expect(p.type, label).toBe('malformed');
    }
    expect((await json(anvil.api('GET', `/api/v1/acme/eab/${cred.keyId}`))).body.status).toBe('unused');
  });

  it('lets exactly one of two concurrent binds of one credential win', async () => {
    const cred = await createEab({ name: 'race', profiles: ['server'] });
    const jwk = accountJwk();
    const results = await Promise.allSettled([bind(eabJws({ ...cred, jwk }), jwk), bind(eabJws({ ...cred, jwk }), jwk)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(AcmeProblem);
    expect((lost.reason as AcmeProblem).type).toBe('unauthorized');
  });
});
