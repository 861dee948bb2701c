/**
 * GET /acme/{profile}/renewal-info/{certID} (RFC 9773) over HTTP: the certID computed from a
 * certificate Anvil issued (AKI and serial read by openssl, not by Anvil), the normal window, the
 * "now" window once it is revoked, Retry-After, and the problems for unknown and broken certIDs.
 * Runs on PGlite and, with ANVIL_TEST_DB=postgres, on PostgreSQL.
 */
import { rmSync } from 'node:fs';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renewalInfoRoutes } from '../../apps/server/src/routes/acme/renewal-info.ts';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool, openssl, tempDir, writeFiles } from '../support/tools.ts';

let anvil: TestAnvil;
let dir: string;
// Mounted as acme-core's acmeRoutes mounts it, so this suite does not depend on the rest of ACME.
const app = new Hono();

beforeAll(async () => {
  anvil = await createTestAnvil();
  dir = tempDir('anvil-ari-');
  app.route('/acme/:profile/renewal-info', renewalInfoRoutes(anvil.authority) as unknown as Hono);
});
afterAll(async () => {
  await anvil?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const hasOpenssl = haveTool('openssl');

/** certID per RFC 9773 4.1, from openssl's reading of the certificate. */
function certIdFromPem(pem: string): string {
  const { cert } = writeFiles(dir, { cert: pem });
  const text = openssl('x509', '-in', cert, '-noout', '-ext', 'authorityKeyIdentifier');
  const aki = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text)![1].replace(/:/g, '');
  let serial = openssl('x509', '-in', cert, '-noout', '-serial')
    .trim()
    .replace(/^serial=/, '');
  if (serial.length % 2) serial = `0${serial}`;
  // DER content octets: a leading 00 when the top bit is set (openssl prints the magnitude).
  if (Number.parseInt(serial.slice(0, 2), 16) & 0x80) serial = `00${serial}`;
  const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');
  return `${b64(aki)}.${b64(serial)}`;
}

describe.skipIf(!hasOpenssl)('renewal-info', () => {
  it('answers the 2/3-5/6 window with Retry-After, then "now" once the certificate is revoked', async () => {
    const issued = await anvil.api('POST', '/api/v1/certificates', { profile: 'server', sans: { dns: ['ari.example.test'] }, ttl: '90d' });
    expect(issued.status).toBe(201);
    const cert = (await issued.json()) as { id: string; certificate: string; notBefore: string; notAfter: string };
    const certId = certIdFromPem(cert.certificate);

    const r = await app.request(`/acme/server/renewal-info/${certId}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('retry-after')).toBe(String(6 * 3600));
    const body = (await r.json()) as { suggestedWindow: { start: string; end: string } };
    const nb = Date.parse(cert.notBefore);
    const life = Date.parse(cert.notAfter) - nb;
    expect(Math.abs(Date.parse(body.suggestedWindow.start) - (nb + (life * 2) / 3))).toBeLessThan(1000);
    expect(Math.abs(Date.parse(body.suggestedWindow.end) - (nb + (life * 5) / 6))).toBeLessThan(1000);
    expect(body.suggestedWindow.start).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    expect((await anvil.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    const after = await app.request(`/acme/server/renewal-info/${certId}`);
    const now = Date.now();
    const w = ((await after.json()) as { suggestedWindow: { start: string; end: string } }).suggestedWindow;
    expect(Date.parse(w.start)).toBeLessThan(now);
    expect(Date.parse(w.end)).toBeGreaterThan(now - 1000);
    expect(after.headers.get('retry-after')).toBe('3600');
  });

  it('answers 404 malformed for a certID of no certificate, 400 malformed for one that is not a certID', async () => {
    const unknown = await app.request('/acme/server/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
    expect(((await unknown.json()) as { type: string }).type).toBe('urn:ietf:params:acme:error:malformed');
    const broken = await app.request('/acme/server/renewal-info/not-a-cert-id');
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { type: string }).type).toBe('urn:ietf:params:acme:error:malformed');
  });
});
