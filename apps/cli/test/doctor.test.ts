/** The doctor's parsers on fixed inputs: s_client's output, TLS alerts, names, URLs, HTTP answers. */
import { describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.ts';
import { alertOf } from '../src/doctor/alerts.ts';
import { parseHttp } from '../src/doctor/handshake.ts';
import { canonicalName } from '../src/doctor/names.ts';
import { parseSClient } from '../src/doctor/probe.ts';
import { parseTarget } from '../src/doctor/target.ts';

const S_CLIENT_HEAD = 'CONNECTED(00000003)\n---\nCertificate chain\n 0 s:CN = 127.0.0.1\n---\nServer certificate\nsubject=CN = 127.0.0.1\n';

describe('parseSClient', () => {
  it('reads the acceptable CA names of a CertificateRequest', () => {
    const out = `${S_CLIENT_HEAD}---\nAcceptable client certificate CA names\nO = Doctor Test, CN = Doctor Test Root\nO = Other, CN = Other Root\nRequested Signature Algorithms: ECDSA+SHA256:RSA-PSS+SHA256\nShared Requested Signature Algorithms: ECDSA+SHA256\n---\n`;
    expect(parseSClient(out)).toMatchObject({
      requested: true,
      caNames: ['O = Doctor Test, CN = Doctor Test Root', 'O = Other, CN = Other Root'],
    });
  });

  it('a CertificateRequest without names still counts as a request', () => {
    const out = `${S_CLIENT_HEAD}---\nNo client certificate CA names sent\nRequested Signature Algorithms: ECDSA+SHA256\n---\n`;
    expect(parseSClient(out)).toMatchObject({ requested: true, caNames: [] });
  });

  it('no CertificateRequest: "No client certificate CA names sent" and no requested algorithms', () => {
    const out = `${S_CLIENT_HEAD}---\nNo client certificate CA names sent\nPeer signing digest: SHA256\n---\n`;
    expect(parseSClient(out)).toMatchObject({ requested: false, caNames: [] });
  });

  it('output without a handshake is no answer', () => {
    expect(parseSClient('connect:errno=111\n')).toBeNull();
  });
});

describe('alertOf', () => {
  it('reads the number from OpenSSL text or the alert name from the Node code', () => {
    expect(alertOf(Object.assign(new Error('error:0A000418:SSL routines::tlsv1 alert unknown ca:...:SSL alert number 48'), {}))).toBe(48);
    expect(alertOf(Object.assign(new Error('x'), { code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED' }))).toBe(45);
    expect(alertOf(Object.assign(new Error('x'), { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' }))).toBe(116);
    expect(alertOf(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBeNull();
  });
});

describe('canonicalName', () => {
  it("equates OpenSSL's one-line form and Node's multi-line form", () => {
    expect(canonicalName('O = Doctor Test, CN = Doctor Test Root')).toBe(canonicalName('O=Doctor Test\nCN=Doctor Test Root'));
    expect(canonicalName('O = A, CN = Root')).not.toBe(canonicalName('CN=Root\nO=A'));
  });
});

describe('parseTarget', () => {
  it('takes host, port, SNI and path from an https URL', () => {
    expect(parseTarget('https://api.example.com:8443/a?b=1')).toEqual({
      url: 'https://api.example.com:8443/a?b=1',
      host: 'api.example.com',
      port: 8443,
      servername: 'api.example.com',
      path: '/a?b=1',
    });
    expect(parseTarget('https://[::1]/')).toMatchObject({ host: '::1', port: 443, servername: undefined });
  });

  it('refuses what is not an https URL with a usage error', () => {
    for (const bad of ['not a url', 'http://example.com/', 'ftp://x/']) {
      expect(() => parseTarget(bad)).toThrow(CliError);
    }
  });
});

describe('parseHttp', () => {
  it('reads status, headers and a chunked body', () => {
    const raw = Buffer.from(
      'HTTP/1.1 403 Forbidden\r\nX-SSL-Client-S-DN: CN=a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    expect(parseHttp(raw)).toEqual({
      status: 403,
      reason: 'Forbidden',
      headers: { 'x-ssl-client-s-dn': 'CN=a', 'transfer-encoding': 'chunked' },
      body: 'hello',
    });
  });

  it('cuts the body to 500 bytes, and is null for what is not HTTP', () => {
    expect(parseHttp(Buffer.from(`HTTP/1.1 200 OK\r\n\r\n${'x'.repeat(900)}`))!.body).toHaveLength(500);
    expect(parseHttp(Buffer.from('garbage'))).toBeNull();
  });
});
