/**
 * The HAProxy and Kong verdict rules on hand-made error sequences: the edges the real-HAProxy
 * matrix (test/interop/judge-haproxy-parity.test.ts) does not reach, such as deep chains and
 * several errors at one depth.
 */
import { describe, expect, it } from 'vitest';
import { haproxyVerdict, kongMessage } from '../src/validation/gateway-verdicts.ts';
import type { VerifyEvent } from '../src/validation/openssl-verify.ts';

const ev = (code: number, depth: number): VerifyEvent => ({ code, depth, cert: null, stage: 'chain' });

describe('haproxyVerdict', () => {
  it('no certificate: the callback never ran', () => {
    expect(haproxyVerdict(false, [])).toEqual({
      handshake: 'accepted',
      handshakeIgnoringErrors: 'accepted',
      ssl_c_used: false,
      ssl_c_verify: 0,
      ssl_c_ca_err: 0,
      ssl_c_ca_err_depth: 0,
      ssl_c_err: 0,
    });
  });

  it('keeps the first error above the leaf and at the leaf, and the last as ssl_c_verify', () => {
    expect(haproxyVerdict(true, [ev(10, 0), ev(3, 1), ev(12, 1), ev(9, 0), ev(20, 2)])).toMatchObject({
      handshake: 'rejected',
      handshakeIgnoringErrors: 'accepted',
      ssl_c_verify: 20,
      ssl_c_ca_err: 3,
      ssl_c_ca_err_depth: 1,
      ssl_c_err: 10,
    });
  });

  it('errors 32-63 end the handshake even with ignore-err all; what follows them never happens', () => {
    const v = haproxyVerdict(true, [ev(79, 1), ev(32, 1), ev(10, 0)]);
    expect(v).toMatchObject({ handshakeIgnoringErrors: 'rejected', ssl_c_verify: 32, ssl_c_ca_err: 79, ssl_c_err: 0 });
    expect(haproxyVerdict(true, [ev(68, 0)]).handshakeIgnoringErrors).toBe('accepted');
    expect(haproxyVerdict(true, [ev(47, 0)]).handshakeIgnoringErrors).toBe('rejected');
  });

  it('stores depths above 15 as 15', () => {
    expect(haproxyVerdict(true, [ev(25, 20)]).ssl_c_ca_err_depth).toBe(15);
  });

  it('a certificate that does not decode ends the handshake', () => {
    expect(haproxyVerdict(true, null)).toMatchObject({ handshake: 'rejected', handshakeIgnoringErrors: 'rejected', ssl_c_used: true });
  });
});

describe('kongMessage', () => {
  it("answers mtls-auth's documented 401 messages", () => {
    expect([kongMessage('verified'), kongMessage('absent'), kongMessage('failed')]).toEqual([
      null,
      'No required TLS certificate was sent',
      'TLS certificate failed verification',
    ]);
  });
});
