/**
 * The per-token issuance rate limit (packages/ca/src/rate-limit.ts): a token's own `rateLimit`,
 * the default (ANVIL_ISSUE_RATE_LIMIT) for tokens without one except admin tokens, 429
 * `rate_limited` with Retry-After (audited, nothing issued), Idempotency-Key replays answered
 * over the limit, the 422 refusals of a bad limit, and — on PostgreSQL — one budget shared by two
 * server processes, sequentially and concurrently. The authority's clock stands still unless a
 * test moves it, so no assertion depends on how fast the machine is.
 * Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, TEST_DB, type TestAnvil } from '../support/harness.ts';

/** The default limit of this file's Anvils (per token and minute). */
const DEFAULT_LIMIT = 2;

let clockMs = Date.now();
const now = () => new Date(clockMs);

let anvil: TestAnvil;
beforeAll(async () => {
  anvil = await createTestAnvil({ now, issueRateLimit: DEFAULT_LIMIT });
});
afterAll(async () => {
  await anvil?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function json(res: Response | Promise<Response>): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await res;
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null, headers: r.headers };
}

async function createToken(body: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const r = await json(anvil.api('POST', '/api/v1/tokens', body));
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

let serial = 0;
/** One server-certificate issuance through `app` with `token` (a fresh name each time). */
function issue(token: string, via: TestAnvil = anvil, headers: Record<string, string> = {}, body?: Record<string, unknown>) {
  return json(
    via.app.request('/api/v1/certificates', {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body ?? { profile: 'server', sans: { dns: [`rate-${++serial}.example.test`] } }),
    }),
  );
}

async function certificateCount(): Promise<number> {
  return (await anvil.authority.certificateCounts()).reduce((n, row) => n + row.count, 0);
}

const ISSUER_SCOPES = ['certificates:issue', 'certificates:read'];

describe('a token with its own rateLimit', () => {
  it('issues its burst, then 429 rate_limited with Retry-After, nothing issued, the refusal audited', async () => {
    const t = await createToken({ name: 'rated-3', scopes: ISSUER_SCOPES, rateLimit: 3 });
    expect((await json(anvil.api('GET', `/api/v1/tokens/${t.id}`))).body.rateLimit).toBe(3);
    for (let i = 0; i < 3; i++) expect((await issue(t.token)).status).toBe(201);

    const before = await certificateCount();
    const refused = await issue(t.token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.body).toMatchObject({ code: 'rate_limited', status: 429, title: 'Too Many Requests', retryAfter: 20 });
    // 3 a minute: one every 20 s; the clock stands still, so the next one frees in exactly 20 s.
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBe(20);
    expect(await certificateCount()).toBe(before);

    const audit = await json(anvil.api('GET', '/api/v1/audit?action=certificate.issue&outcome=failure&limit=50'));
    const row = audit.body.items.find((e: { actor: string; details?: { code?: string } }) => e.actor.includes(t.id));
    expect(row).toMatchObject({ action: 'certificate.issue', outcome: 'failure', target: null, details: { code: 'rate_limited' } });

    // One second short is still refused; at Retry-After one more is allowed, and only one.
    clockMs += (retryAfter - 1) * 1000;
    expect((await issue(t.token)).status).toBe(429);
    clockMs += 1000;
    expect((await issue(t.token)).status).toBe(201);
    expect((await issue(t.token)).status).toBe(429);
  });

  it('an Idempotency-Key replay is answered over the limit; a new request is not', async () => {
    const t = await createToken({ name: 'rated-replay', scopes: ISSUER_SCOPES, rateLimit: 1 });
    const body = { profile: 'server', sans: { dns: ['replayed.example.test'] } };
    const first = await issue(t.token, anvil, { 'idempotency-key': 'rate-k1' }, body);
    expect(first.status).toBe(201);
    const replay = await issue(t.token, anvil, { 'idempotency-key': 'rate-k1' }, body);
    expect(replay.status).toBe(200);
    expect(replay.body.id).toBe(first.body.id);
    expect((await issue(t.token, anvil, { 'idempotency-key': 'rate-k2' }, body)).status).toBe(429);
  });

  it('an admin token may carry a rateLimit, and is then limited', async () => {
    const t = await createToken({ name: 'rated-admin', scopes: ['admin'], rateLimit: 1 });
    expect((await json(anvil.api('GET', `/api/v1/tokens/${t.id}`))).body).toMatchObject({ scopes: ['admin'], rateLimit: 1 });
    expect((await issue(t.token)).status).toBe(201);
    expect((await issue(t.token)).status).toBe(429);
  });
});

describe('the default limit (ANVIL_ISSUE_RATE_LIMIT)', () => {
  it('applies to a partner token without a rateLimit of its own', async () => {
    const t = await createToken({ name: 'partner-default', scopes: ISSUER_SCOPES, sanPatterns: ['*.example.test'] });
    expect((await json(anvil.api('GET', `/api/v1/tokens/${t.id}`))).body.rateLimit).toBeNull();
    for (let i = 0; i < DEFAULT_LIMIT; i++) expect((await issue(t.token)).status).toBe(201);
    const refused = await issue(t.token);
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
  });

  it('does not apply to an admin token (the bootstrap one, or one made later)', async () => {
    for (let i = 0; i < DEFAULT_LIMIT * 3; i++) expect((await issue(anvil.token)).status).toBe(201);
    const t = await createToken({ name: 'admin-unlimited', scopes: ['admin'] });
    for (let i = 0; i < DEFAULT_LIMIT * 3; i++) expect((await issue(t.token)).status).toBe(201);
  });

  it('counts issuances only: a token over its limit still reads', async () => {
    const t = await createToken({ name: 'reader-default', scopes: ISSUER_SCOPES });
    for (let i = 0; i < DEFAULT_LIMIT; i++) expect((await issue(t.token)).status).toBe(201);
    expect((await issue(t.token)).status).toBe(429);
    // Reading is not issuing.
    expect((await anvil.app.request('/api/v1/certificates', { headers: bearer(t.token) })).status).toBe(200);
  });
});

describe('a bad rateLimit', () => {
  it('is refused (422 invalid_rate_limit; a non-integer is the schema 400), storing nothing', async () => {
    const count = async () => (await json(anvil.api('GET', '/api/v1/tokens'))).body.items.length;
    const before = await count();
    for (const rateLimit of [0, -1, 100_001, 10 ** 9]) {
      const r = await json(anvil.api('POST', '/api/v1/tokens', { name: 'bad-rate', scopes: ISSUER_SCOPES, rateLimit }));
      expect(r.status, `${rateLimit} -> ${JSON.stringify(r.body)}`).toBe(422);
      expect(r.body.code).toBe('invalid_rate_limit');
    }
    for (const rateLimit of [1.5, 'x', null]) {
      const r = await json(anvil.api('POST', '/api/v1/tokens', { name: 'bad-rate', scopes: ISSUER_SCOPES, rateLimit }));
      expect(r.status, `${rateLimit} -> ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.code).toBe('validation_failed');
    }
    expect(await count()).toBe(before);
  });
});

describe.skipIf(TEST_DB !== 'postgres')('two processes on one PostgreSQL share one budget', () => {
  let second: TestAnvil;
  beforeAll(async () => {
    second = await createTestAnvil({
      now,
      issueRateLimit: DEFAULT_LIMIT,
      shareDatabase: { url: anvil.database.url!, kek: anvil.database.kek },
    });
  });
  afterAll(async () => {
    await second?.close();
  });

  it('rateLimit 4: two issuances through each process, then the fifth is 429 through either', async () => {
    const t = await createToken({ name: 'rated-shared', scopes: ISSUER_SCOPES, rateLimit: 4 });
    for (const via of [anvil, second, anvil, second]) expect((await issue(t.token, via)).status).toBe(201);
    const a = await issue(t.token, anvil);
    const b = await issue(t.token, second);
    expect([a.status, b.status]).toEqual([429, 429]);
    expect(Number(b.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('concurrent issuances through both processes: exactly the limit is issued', async () => {
    const t = await createToken({ name: 'rated-race', scopes: ISSUER_SCOPES, rateLimit: 4 });
    const before = await certificateCount();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => issue(t.token, i % 2 ? second : anvil)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(8);
    expect(await certificateCount()).toBe(before + 4);
  });
});
