import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

let anvil: TestAnvil;
beforeAll(async () => {
  anvil = await createTestAnvil();
});
afterAll(async () => {
  await anvil?.close();
});

describe('issuance API', () => {
  it('issues a client certificate with a generated key', async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'partner-a' },
      sans: { dns: ['a.partner.test'], uri: ['spiffe://prod.example/a'] },
    });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body.profile).toBe('client');
    expect(body.privateKey).toMatch(/BEGIN PRIVATE KEY/);
    expect(body.fullchain).toBe(body.certificate + body.chain);
    const again = await anvil.api('GET', `/api/v1/certificates/${body.id}`);
    expect((await again.json()).privateKey).toBeUndefined();
  });
});
