/** Flattened JWS (RFC 7515), JWK thumbprints (RFC 7638) and Ed25519 JWS (RFC 8037) against the RFCs' own vectors and openssl. */
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  base64urlDecode,
  base64urlEncode,
  JwsError,
  jwkThumbprint,
  jwkToSpkiDer,
  parseFlattenedJws,
  verifyJwsSignature,
  type ParsedJws,
} from '../src/jws.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

/** RFC 7515 appendix A.3 (ES256). */
const A3 = {
  protected: 'eyJhbGciOiJFUzI1NiJ9',
  payload: 'eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ',
  signature: 'DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q',
  jwk: { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' },
};

/** RFC 8037 appendix A.4 (Ed25519). */
const ED = {
  protected: 'eyJhbGciOiJFZERTQSJ9',
  payload: 'RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc',
  signature: 'hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg',
  jwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' },
};

/** Flips one bit of a base64url string's decoded bytes. */
function flip(s: string, byte = 0): string {
  const b = base64urlDecode(s);
  b[byte] ^= 1;
  return base64urlEncode(b);
}

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof JwsError ? err.code : `not a JwsError: ${String(err)}`;
  }
  return undefined;
}

describe('RFC vectors', () => {
  it('verifies RFC 7515 A.3 (ES256) and refuses it tampered', () => {
    const jws = parseFlattenedJws({ protected: A3.protected, payload: A3.payload, signature: A3.signature });
    expect(jws.protected.alg).toBe('ES256');
    expect(jws.payloadText).toContain('"iss":"joe"');
    expect(verifyJwsSignature(jws, A3.jwk)).toBe(true);
    expect(
      verifyJwsSignature(parseFlattenedJws({ protected: A3.protected, payload: flip(A3.payload, 3), signature: A3.signature }), A3.jwk),
    ).toBe(false);
    expect(
      verifyJwsSignature(parseFlattenedJws({ protected: A3.protected, payload: A3.payload, signature: flip(A3.signature, 10) }), A3.jwk),
    ).toBe(false);
  });

  it('verifies RFC 8037 A.4 (Ed25519) and computes its A.3 thumbprint', () => {
    const jws = parseFlattenedJws({ protected: ED.protected, payload: ED.payload, signature: ED.signature });
    expect(jws.payloadText).toBe('Example of Ed25519 signing');
    expect(verifyJwsSignature(jws, ED.jwk)).toBe(true);
    expect(verifyJwsSignature({ ...jws, signature: base64urlDecode(flip(ED.signature, 5)) }, ED.jwk)).toBe(false);
    expect(jwkThumbprint(ED.jwk)).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });

  it('computes the RFC 7638 section 3.1 thumbprint, ignoring members outside the required set', () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});

describe('signatures made elsewhere', () => {
  it('verifies an RS256 signature made by openssl dgst -sha256 -sign', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-jws-'));
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(dir, 'k.pem')]);
    const jwk = createPublicKey(readFileSync(join(dir, 'k.pem'))).export({ format: 'jwk' });
    const protectedB64 = b64(JSON.stringify({ alg: 'RS256', nonce: 'n', url: 'https://acme.test/new-order', jwk }));
    const payloadB64 = b64('{"identifiers":[]}');
    writeFileSync(join(dir, 'in'), `${protectedB64}.${payloadB64}`);
    execFileSync('openssl', ['dgst', '-sha256', '-sign', join(dir, 'k.pem'), '-out', join(dir, 'sig'), join(dir, 'in')]);
    const signature = base64urlEncode(readFileSync(join(dir, 'sig')));
    const jws = parseFlattenedJws({ protected: protectedB64, payload: payloadB64, signature });
    expect(jws.protected.url).toBe('https://acme.test/new-order');
    expect(verifyJwsSignature(jws, jws.protected.jwk!)).toBe(true);
    expect(verifyJwsSignature(parseFlattenedJws({ protected: protectedB64, payload: b64('{"identifiers":[1]}'), signature }), jwk)).toBe(
      false,
    );
    expect(jwkToSpkiDer(jwk).equals(createPublicKey(readFileSync(join(dir, 'k.pem'))).export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it.each([
    [
      'ES384',
      () => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
      (i: Buffer, k: never) => sign('sha384', i, { key: k, dsaEncoding: 'ieee-p1363' }),
    ],
    [
      'PS256',
      () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
      (i: Buffer, k: never) => sign('sha256', i, { key: k, padding: 6, saltLength: 32 }),
    ],
  ])('verifies %s made by node:crypto', (alg, keys, signWith) => {
    const { privateKey, publicKey } = keys();
    const jwk = publicKey.export({ format: 'jwk' });
    const p = b64(JSON.stringify({ alg }));
    const payload = b64('{}');
    const signature = base64urlEncode(signWith(Buffer.from(`${p}.${payload}`), privateKey as never));
    expect(verifyJwsSignature(parseFlattenedJws({ protected: p, payload, signature }), jwk)).toBe(true);
  });
});

describe('refusals', () => {
  const withHeader = (header: unknown) => ({ protected: b64(JSON.stringify(header)), payload: '', signature: A3.signature });

  it.each(['none', 'HS256', 'RS1', 'ES512x'])('refuses alg %s with the accepted list', (alg) => {
    let err: unknown;
    try {
      parseFlattenedJws(withHeader({ alg }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JwsError);
    expect((err as JwsError).code).toBe('badSignatureAlgorithm');
    expect((err as JwsError).algorithms).toContain('ES256');
  });

  it('reads HS256 only when the caller names it (External Account Binding)', () => {
    expect(parseFlattenedJws(withHeader({ alg: 'HS256', kid: 'k' }), { algorithms: ['HS256'] }).protected.kid).toBe('k');
  });

  it.each([
    ['not an object', 'x'],
    ['an array', []],
    ['general serialization', { signatures: [], payload: '' }],
    ['unprotected header', { ...withHeader({ alg: 'ES256' }), header: { kid: 'x' } }],
    ['extra member', { ...withHeader({ alg: 'ES256' }), extra: 1 }],
    ['missing signature', { protected: b64('{"alg":"ES256"}'), payload: '' }],
    ['header not JSON', { protected: b64('{alg'), payload: '', signature: '' }],
    ['header an array', withHeader(['ES256'])],
    ['no alg', withHeader({ nonce: 'n' })],
    ['url not a string', withHeader({ alg: 'ES256', url: 1 })],
    ['jwk not an object', withHeader({ alg: 'ES256', jwk: 'k' })],
    ['padded payload', { protected: b64('{"alg":"ES256"}'), payload: 'e30=', signature: '' }],
    ['standard base64 signature', { protected: b64('{"alg":"ES256"}'), payload: '', signature: 'ab+/' }],
    ['payload not UTF-8', { protected: b64('{"alg":"ES256"}'), payload: base64urlEncode(Buffer.from([0xff, 0xfe])), signature: '' }],
  ])('refuses %s as malformed', (_, body) => {
    expect(errorCode(() => parseFlattenedJws(body))).toBe('malformed');
  });

  it('refuses a key of the wrong type for the algorithm, and private key material', () => {
    const jws: ParsedJws = parseFlattenedJws({ protected: A3.protected, payload: A3.payload, signature: A3.signature });
    expect(errorCode(() => verifyJwsSignature(jws, ED.jwk))).toBe('badPublicKey');
    expect(errorCode(() => verifyJwsSignature(jws, { ...A3.jwk, crv: 'P-384' }))).toBe('badPublicKey');
    expect(errorCode(() => verifyJwsSignature(jws, { ...A3.jwk, d: 'AAAA' }))).toBe('badPublicKey');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    expect(errorCode(() => verifyJwsSignature({ ...jws, protected: { alg: 'RS256' } }, small))).toBe('badPublicKey');
  });

  it('base64url is strict both ways', () => {
    expect(base64urlDecode('')).toEqual(Buffer.alloc(0));
    expect(base64urlEncode(Buffer.from([0xfb, 0xff]))).toBe('-_8');
    for (const bad of ['-_8=', 'a', 'ab cd', 'ab/c', 'ab\n']) expect(errorCode(() => base64urlDecode(bad))).toBe('malformed');
  });
});
