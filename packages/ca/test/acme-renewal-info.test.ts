/** ACME Renewal Information (RFC 9773): the window arithmetic, the "now" window, and certID parsing. */
import { describe, expect, it } from 'vitest';
import { AcmeProblem } from '../src/acme/problems.ts';
import { certIdOf, parseCertId, renewalInfoFor, renewalWindow, type RenewalLookup } from '../src/acme/renewal-info.ts';

const NB = new Date('2026-01-01T00:00:00Z');
const NA = new Date('2026-04-01T00:00:00Z'); // 90 days
const NOW = new Date('2026-01-10T12:00:00Z');

describe('renewalWindow', () => {
  it('is 2/3 to 5/6 of the validity for a good certificate of an active issuer', () => {
    const w = renewalWindow({ notBefore: NB, notAfter: NA, revoked: false, issuerStatus: 'active' }, NOW);
    expect(w.start.toISOString()).toBe('2026-03-02T00:00:00.000Z'); // day 60
    expect(w.end.toISOString()).toBe('2026-03-17T00:00:00.000Z'); // day 75
    expect(w.urgent).toBeNull();
    expect(w.retryAfterSeconds).toBe(6 * 3600);
  });

  it('keeps whole seconds for a lifetime that does not divide evenly', () => {
    const w = renewalWindow({ notBefore: NB, notAfter: new Date(NB.getTime() + 1000_001), revoked: false, issuerStatus: 'active' }, NOW);
    expect(w.start.getTime() % 1000).toBe(0);
    expect(w.end.getTime() % 1000).toBe(0);
    expect(w.start.getTime()).toBeLessThan(w.end.getTime());
  });

  it.each([
    ['revoked', { revoked: true, issuerStatus: 'active' }],
    ['issuer_not_active', { revoked: false, issuerStatus: 'retired' }],
    ['issuer_not_active', { revoked: false, issuerStatus: 'revoked' }],
    ['issuer_not_active', { revoked: false, issuerStatus: 'active', issuerSuccessorId: 'x' }],
  ])('is "now" (start in the past, end shortly after) when %s', (why, facts) => {
    const w = renewalWindow({ notBefore: NB, notAfter: NA, ...facts }, NOW);
    expect(w.urgent).toBe(why);
    expect(w.start.getTime()).toBeLessThan(NOW.getTime());
    expect(w.end.getTime()).toBeGreaterThan(NOW.getTime());
    expect(w.end.getTime() - NOW.getTime()).toBeLessThanOrEqual(3600_000);
    expect(w.retryAfterSeconds).toBe(3600);
  });
});

describe('certID', () => {
  it('round-trips and reads the RFC 9773 example', () => {
    // RFC 9773 section 4.1: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4, serial 00:87:65:43:21
    const id = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE';
    expect(parseCertId(id)).toEqual({ akiHex: '69885b6b87464041e1b37b847ba0ae2cde01c8d4', serialHex: '0087654321' });
    expect(certIdOf('69885b6b87464041e1b37b847ba0ae2cde01c8d4', '0087654321')).toBe(id);
  });

  it.each(['', 'abc', 'a.b.c', 'aYhb+4dG.AIdl', 'aYhba4dG.', '.AIdl', 'aYhba4dG.A', `aYhb.${'A'.repeat(200)}`])(
    'refuses %j as malformed',
    (id) => {
      expect(() => parseCertId(id)).toThrow(AcmeProblem);
      try {
        parseCertId(id);
      } catch (e) {
        expect((e as AcmeProblem).type).toBe('malformed');
        expect((e as AcmeProblem).status).toBe(400);
      }
    },
  );

  it('finds the certificate by the issuer key id and serial; another is 404 malformed', async () => {
    const lookup: RenewalLookup = {
      issuers: () => [
        { record: { id: 'i1', subjectKeyId: 'AABB', status: 'active' } },
        { record: { id: 'i2', subjectKeyId: 'ccdd', status: 'retired', successorId: 'i1' } },
      ],
      certificateBySerial: async (issuerId, serial) =>
        issuerId === 'i2' && serial === '01' ? { notBefore: NB, notAfter: NA, status: 'active' } : null,
    };
    const w = await renewalInfoFor(certIdOf('ccdd', '01'), lookup, NOW);
    expect(w.urgent).toBe('issuer_not_active');
    const unknown = await renewalInfoFor(certIdOf('aabb', '01'), lookup, NOW).catch((e) => e);
    expect(unknown).toBeInstanceOf(AcmeProblem);
    expect(unknown.status).toBe(404);
    expect(unknown.type).toBe('malformed');
  });
});
