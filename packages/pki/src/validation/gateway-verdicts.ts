/**
 * The verdict as the other common gateways state it: HAProxy 2.6's ssl_c_* fetches and whether
 * its handshake completes, and the message Kong's mtls-auth plugin answers. Computed from the
 * same OpenSSL replay the nginx string comes from (openssl-verify.ts).
 */
import type { VerifyEvent } from './openssl-verify.ts';

/**
 * HAProxy sets no verify depth of its own (a bind line has no ssl_verify_depth), so OpenSSL's
 * default X509_VERIFY_PARAM depth applies: a chain nginx refuses at ssl_verify_depth 1 passes.
 */
export const HAPROXY_VERIFY_DEPTH = 100;

/**
 * HAProxy 2.6 (src/ssl_sock.c, ssl_sock_bind_verifycbk) behind `verify optional`, checked with
 * test/interop/judge-haproxy-parity.test.ts against the real haproxy 2.6:
 * - every error OpenSSL reports ends the handshake unless `ca-ignore-err` (depth > 0) or
 *   `crt-ignore-err` (depth 0) lists it, so with both unset a failed certificate never reaches
 *   a rule and no fetch can be read (`handshake: 'rejected'`);
 * - even `ca-ignore-err all crt-ignore-err all` does not ignore every error: the bit test
 *   (cert_ignerr_bitfield_get in include/haproxy/ssl_sock.h) keeps `bits & (1ULL << (err & 63))`
 *   in an int, which drops bits 32-63, so errors 32-63 and 96-127 (e.g. 47, a name constraint
 *   violated) still end the handshake; 64-94 (e.g. 68, digest too weak) are ignored;
 * - the callback keeps the FIRST error at depth > 0 (ssl_c_ca_err, ssl_c_ca_err_depth) and the
 *   first at depth 0 (ssl_c_err), capped at 127 and depth 15 (OpenSSL 3.0's codes end at 94);
 * - ssl_c_verify is SSL_get_verify_result: the LAST error, as nginx reports it.
 * Without a client certificate the callback never runs: everything is 0 and ssl_c_used false.
 */
export interface HaproxyVerdict {
  /** `verify optional` with ca-ignore-err / crt-ignore-err unset. */
  handshake: 'accepted' | 'rejected';
  /** `verify optional ca-ignore-err all crt-ignore-err all`: the fetches below can be read. */
  handshakeIgnoringErrors: 'accepted' | 'rejected';
  ssl_c_used: boolean;
  ssl_c_verify: number;
  ssl_c_ca_err: number;
  ssl_c_ca_err_depth: number;
  ssl_c_err: number;
}

/** Whether `ca-ignore-err all` / `crt-ignore-err all` lets HAProxy 2.6 continue past `code`. */
export function haproxyIgnorable(code: number): boolean {
  return code <= 94 && (code & 63) < 32; // SSL_MAX_VFY_ERROR_CODE 94; see above for the int
}

/**
 * `events`: the errors the verify callback sees, in order, without the judge's own name checks
 * (HAProxy checks no client names); null for a certificate that does not decode, which ends the
 * handshake before verification.
 */
export function haproxyVerdict(presented: boolean, events: VerifyEvent[] | null): HaproxyVerdict {
  const none = { ssl_c_verify: 0, ssl_c_ca_err: 0, ssl_c_ca_err_depth: 0, ssl_c_err: 0 };
  if (!presented) return { handshake: 'accepted', handshakeIgnoringErrors: 'accepted', ssl_c_used: false, ...none };
  if (events === null) return { handshake: 'rejected', handshakeIgnoringErrors: 'rejected', ssl_c_used: true, ...none };
  // With every error ignored, verification still stops at the first one HAProxy cannot ignore.
  const stop = events.findIndex((e) => !haproxyIgnorable(e.code));
  const seen = stop < 0 ? events : events.slice(0, stop + 1);
  const ca = seen.find((e) => e.depth > 0);
  const crt = seen.find((e) => e.depth === 0);
  return {
    handshake: events.length ? 'rejected' : 'accepted',
    handshakeIgnoringErrors: stop < 0 ? 'accepted' : 'rejected',
    ssl_c_used: true,
    ssl_c_verify: seen.length ? seen[seen.length - 1].code : 0,
    ssl_c_ca_err: ca ? Math.min(ca.code, 127) : 0,
    ssl_c_ca_err_depth: ca ? Math.min(ca.depth, 15) : 0,
    ssl_c_err: crt ? Math.min(crt.code, 127) : 0,
  };
}

/**
 * The 401 message of Kong Gateway's mtls-auth plugin, as its documentation words them
 * (developer.konghq.com/plugins/mtls-auth, "How does the mTLS plugin work?"): no valid
 * certificate -> "No required TLS certificate was sent"; not trusted or expired -> "TLS
 * certificate failed verification"; null when Kong lets the request through.
 */
export const KONG_MESSAGES = {
  absent: 'No required TLS certificate was sent',
  failed: 'TLS certificate failed verification',
} as const;

export function kongMessage(status: 'verified' | 'failed' | 'absent'): string | null {
  return status === 'verified' ? null : KONG_MESSAGES[status];
}
