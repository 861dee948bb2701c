/**
 * ACME challenge validation against real servers started here: a node http server (http-01), a
 * node tls server with ALPN acme-tls/1 serving certificates made by openssl (tls-alpn-01), and a
 * UDP DNS server built with dns-packet (dns-01, and name resolution). Each failure mode is checked
 * for its problem type: wrong answer, refused network, closed port, timeout.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveTool, openssl, tempDir } from '../../../test/support/tools.ts';
import {
  type ChallengeToValidate,
  checkAcmeTlsCertificate,
  DEFAULT_ALLOWED_NETWORKS,
  dns01TxtValue,
  networkMatcher,
  parseValidationSettings,
  reverseName,
  type ValidationSettings,
  validateChallenge,
} from '../src/acme/challenges.ts';
import { AcmeProblem } from '../src/acme/problems.ts';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTH = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
const NAME = 'svc.example.test';

const listening = <T extends HttpServer | TlsServer | NetServer>(server: T): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

async function problemOf(p: Promise<unknown>): Promise<AcmeProblem> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('the validation passed');
}

const challenge = (type: ChallengeToValidate['type'], over: Partial<ChallengeToValidate> = {}): ChallengeToValidate => ({
  type,
  identifier: { type: 'dns', value: NAME },
  token: TOKEN,
  keyAuthorization: KEY_AUTH,
  ...over,
});

// ---- servers ----------------------------------------------------------------------------------

/** What the http-01 server answers, per request path; records the Host headers it saw. */
let httpAnswer: (path: string) => { status: number; body: string; headers?: Record<string, string> } | 'hang' | 'drip';
const hostHeaders: string[] = [];
let httpServer: HttpServer;
let httpPort = 0;

/** TXT and A answers of the DNS server, by lower-case name. */
const txt = new Map<string, string[]>();
const aRecords = new Map<string, string>();
let dnsServer: Socket;
let dnsPort = 0;

let closedPort = 0;
let silent: NetServer;
let silentPort = 0;

const tls: Record<string, { server: TlsServer; port: number }> = {};
const hasOpenssl = haveTool('openssl');

function acmeCert(dir: string, label: string, sans: string, keyAuth: string, critical = true): { key: string; cert: string } {
  const hex = createHash('sha256').update(keyAuth).digest('hex').match(/../g)!.join(':');
  const key = join(dir, `${label}.key`);
  const cert = join(dir, `${label}.crt`);
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=acme-challenge',
    '-addext',
    `subjectAltName=${sans}`,
    '-addext',
    `1.3.6.1.5.5.7.1.31=${critical ? 'critical,' : ''}DER:04:20:${hex}`,
  );
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

async function tlsServer(label: string, pem: { key: string; cert: string }, alpn: string[] | undefined) {
  const server = createTlsServer({ ...pem, ALPNProtocols: alpn }, (s) => s.end());
  server.on('tlsClientError', () => {});
  tls[label] = { server, port: await listening(server) };
}

beforeAll(async () => {
  httpServer = createHttpServer((req, res) => {
    hostHeaders.push(req.headers.host ?? '');
    const a = httpAnswer(req.url ?? '');
    if (a === 'hang') return; // never answers: the validator's timeout must fire
    if (a === 'drip') {
      // Answers, then a byte every 100 ms: never idle long enough for a socket timeout.
      res.writeHead(200);
      const t = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(t));
      return;
    }
    res.writeHead(a.status, a.headers ?? { 'content-type': 'application/octet-stream' });
    res.end(a.body);
  });
  httpPort = await listening(httpServer);

  dnsServer = createSocket('udp4');
  dnsServer.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    const name = question?.name.toLowerCase() ?? '';
    const answers: dnsPacket.Answer[] = [];
    if (question?.type === 'TXT') for (const v of txt.get(name) ?? []) answers.push({ type: 'TXT', name: question.name, ttl: 1, data: v });
    if (question?.type === 'A' && aRecords.has(name)) answers.push({ type: 'A', name: question.name, ttl: 1, data: aRecords.get(name)! });
    const known = txt.has(name) || aRecords.has(name);
    const reply = dnsPacket.encode({
      id: q.id,
      type: 'response',
      // NXDOMAIN (rcode 3) for names the server knows nothing of.
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (known ? 0 : 3),
      questions: q.questions,
      answers,
    });
    dnsServer.send(reply, rinfo.port, rinfo.address);
  });
  dnsPort = await new Promise<number>((resolve) => dnsServer.bind(0, '127.0.0.1', () => resolve(dnsServer.address().port)));

  const closed = createNetServer();
  closedPort = await listening(closed);
  await new Promise((r) => closed.close(r));
  silent = createNetServer(() => {}); // accepts, never speaks TLS
  silentPort = await listening(silent);

  if (hasOpenssl) {
    const dir = tempDir('anvil-acme-tls-');
    await tlsServer('good', acmeCert(dir, 'good', `DNS:${NAME}`, KEY_AUTH), ['acme-tls/1']);
    await tlsServer('wrongHash', acmeCert(dir, 'wrong', `DNS:${NAME}`, `${KEY_AUTH}x`), ['acme-tls/1']);
    await tlsServer('twoSans', acmeCert(dir, 'two', `DNS:${NAME},DNS:other.example.test`, KEY_AUTH), ['acme-tls/1']);
    await tlsServer('notCritical', acmeCert(dir, 'nc', `DNS:${NAME}`, KEY_AUTH, false), ['acme-tls/1']);
    await tlsServer('noAlpn', acmeCert(dir, 'noalpn', `DNS:${NAME}`, KEY_AUTH), undefined);
    await tlsServer('ip', acmeCert(dir, 'ip', 'IP:127.0.0.1', KEY_AUTH), ['acme-tls/1']);
  }
});

afterAll(async () => {
  httpServer?.closeAllConnections();
  await new Promise((r) => httpServer?.close(r));
  dnsServer?.close();
  silent?.close();
  for (const { server } of Object.values(tls)) server.close();
});

const settings = (over: Partial<ValidationSettings> = {}): ValidationSettings => ({
  httpPort,
  tlsPort: tls.good?.port ?? 1,
  hosts: new Map([[NAME, '127.0.0.1']]),
  allowedNetworks: ['127.0.0.0/8'],
  dnsResolver: `127.0.0.1:${dnsPort}`,
  timeoutMs: 1500,
  ...over,
});

// ---- http-01 ----------------------------------------------------------------------------------

describe('http-01', () => {
  const ok = (path: string) =>
    path === `/.well-known/acme-challenge/${TOKEN}` ? { status: 200, body: KEY_AUTH } : { status: 404, body: 'no' };

  it('passes when the body is the key authorization (trailing whitespace ignored), with the name in Host', async () => {
    httpAnswer = (p) => ({ ...ok(p), body: `${ok(p).body}\r\n` });
    hostHeaders.length = 0;
    await validateChallenge(challenge('http-01'), settings());
    expect(hostHeaders).toEqual([`${NAME}:${httpPort}`]);
  });

  it('resolves the name over the configured DNS server when ANVIL_ACME_HOSTS does not list it', async () => {
    httpAnswer = ok;
    aRecords.set('dns-only.example.test', '127.0.0.1');
    await validateChallenge(challenge('http-01', { identifier: { type: 'dns', value: 'dns-only.example.test' } }), settings());
    const p = await problemOf(
      validateChallenge(challenge('http-01', { identifier: { type: 'dns', value: 'nowhere.example.test' } }), settings()),
    );
    expect(p.type).toBe('dns');
  });

  it('validates an ip identifier at the address itself', async () => {
    httpAnswer = ok;
    hostHeaders.length = 0;
    await validateChallenge(challenge('http-01', { identifier: { type: 'ip', value: '127.0.0.1' } }), settings());
    expect(hostHeaders).toEqual([`127.0.0.1:${httpPort}`]);
  });

  it.each([
    ['a wrong body', () => ({ status: 200, body: `${TOKEN}.wrong` })],
    ['a 404', () => ({ status: 404, body: KEY_AUTH })],
    ['a redirect (never followed)', () => ({ status: 302, body: '', headers: { location: `http://127.0.0.1:${httpPort}/x` } })],
    ['a body over 8 KiB', () => ({ status: 200, body: KEY_AUTH + ' '.repeat(9000) })],
  ])('refuses %s as incorrectResponse', async (_label, answer) => {
    httpAnswer = answer;
    const p = await problemOf(validateChallenge(challenge('http-01'), settings()));
    expect(p.type).toBe('incorrectResponse');
    expect(p.detail).not.toContain('wrong'); // the served body is never echoed
  });

  it('refuses an address outside the allowed networks without connecting', async () => {
    httpAnswer = ok;
    hostHeaders.length = 0;
    const p = await problemOf(validateChallenge(challenge('http-01'), settings({ allowedNetworks: ['10.0.0.0/8'] })));
    expect(p.type).toBe('rejectedIdentifier');
    expect(hostHeaders).toEqual([]);
    const none = await problemOf(validateChallenge(challenge('http-01'), settings({ allowedNetworks: [] })));
    expect(none.type).toBe('rejectedIdentifier');
  });

  it('reports a closed port and a server that never answers as connection problems', async () => {
    const closed = await problemOf(validateChallenge(challenge('http-01'), settings({ httpPort: closedPort })));
    expect(closed.type).toBe('connection');
    httpAnswer = () => 'hang';
    const started = Date.now();
    const hung = await problemOf(validateChallenge(challenge('http-01'), settings({ timeoutMs: 300 })));
    expect(hung.type).toBe('connection');
    expect(Date.now() - started).toBeLessThan(3000);
    httpAnswer = () => 'drip';
    const dripStarted = Date.now();
    const dripped = await problemOf(validateChallenge(challenge('http-01'), settings({ timeoutMs: 500 })));
    expect(dripped.type).toBe('connection');
    expect(Date.now() - dripStarted).toBeLessThan(2000);
  });

  it('refuses a key authorization that does not belong to the token', async () => {
    const p = await problemOf(validateChallenge(challenge('http-01', { keyAuthorization: 'other.thumb' }), settings()));
    expect(p.type).toBe('malformed');
  });
});

// ---- tls-alpn-01 ------------------------------------------------------------------------------

describe.skipIf(!hasOpenssl)('tls-alpn-01', () => {
  const at = (label: string) => settings({ tlsPort: tls[label].port });

  it('passes with the single SAN and the critical acmeIdentifier holding SHA-256(keyAuthorization)', async () => {
    await validateChallenge(challenge('tls-alpn-01'), at('good'));
  });

  it('passes for an ip identifier with an iPAddress SAN', async () => {
    await validateChallenge(challenge('tls-alpn-01', { identifier: { type: 'ip', value: '127.0.0.1' } }), at('ip'));
  });

  it.each(['wrongHash', 'twoSans', 'notCritical'])('refuses the %s certificate as incorrectResponse', async (label) => {
    const p = await problemOf(validateChallenge(challenge('tls-alpn-01'), at(label)));
    expect(p.type).toBe('incorrectResponse');
  });

  it('refuses a certificate for another name', async () => {
    const p = await problemOf(
      validateChallenge(challenge('tls-alpn-01', { identifier: { type: 'dns', value: 'other.example.test' } }), {
        ...at('good'),
        hosts: new Map([['other.example.test', '127.0.0.1']]),
      }),
    );
    expect(p.type).toBe('incorrectResponse');
  });

  it('refuses a server that does not negotiate acme-tls/1, and one that does not speak TLS', async () => {
    expect((await problemOf(validateChallenge(challenge('tls-alpn-01'), at('noAlpn')))).type).toBe('tls');
    const mute = await problemOf(validateChallenge(challenge('tls-alpn-01'), settings({ tlsPort: silentPort, timeoutMs: 300 })));
    expect(mute.type).toBe('connection');
    const closed = await problemOf(validateChallenge(challenge('tls-alpn-01'), settings({ tlsPort: closedPort })));
    expect(closed.type).toBe('connection');
  });

  it('refuses a disallowed network before connecting', async () => {
    const p = await problemOf(validateChallenge(challenge('tls-alpn-01'), { ...at('good'), allowedNetworks: ['192.168.0.0/16'] }));
    expect(p.type).toBe('rejectedIdentifier');
  });

  it('refuses bytes that are not a certificate', () => {
    expect(() => checkAcmeTlsCertificate(new Uint8Array([0x30, 0x00]), challenge('tls-alpn-01'))).toThrow(AcmeProblem);
  });
});

// ---- dns-01 -----------------------------------------------------------------------------------

describe('dns-01', () => {
  it('passes when a TXT record holds base64url(SHA-256(keyAuthorization)), also for a wildcard', async () => {
    const value = dns01TxtValue(KEY_AUTH);
    // RFC 8555 8.4 example shape: 43 base64url characters.
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(value).toBe(createHash('sha256').update(KEY_AUTH).digest('base64url'));
    txt.set(`_acme-challenge.${NAME}`, ['unrelated', value]);
    await validateChallenge(challenge('dns-01'), settings());
    await validateChallenge(challenge('dns-01', { identifier: { type: 'dns', value: `*.${NAME}` } }), settings());
  });

  it('refuses a wrong TXT value, no TXT record, and a name that does not exist', async () => {
    txt.set('_acme-challenge.wrong.example.test', ['not-it']);
    const wrong = await problemOf(
      validateChallenge(challenge('dns-01', { identifier: { type: 'dns', value: 'wrong.example.test' } }), settings()),
    );
    expect(wrong.type).toBe('incorrectResponse');
    aRecords.set('_acme-challenge.a-only.example.test', '127.0.0.1');
    const empty = await problemOf(
      validateChallenge(challenge('dns-01', { identifier: { type: 'dns', value: 'a-only.example.test' } }), settings()),
    );
    expect(empty.type).toBe('incorrectResponse');
    const missing = await problemOf(
      validateChallenge(challenge('dns-01', { identifier: { type: 'dns', value: 'gone.example.test' } }), settings()),
    );
    expect(missing.type).toBe('dns');
  });

  it('reports an unreachable resolver as a dns problem, and refuses ip identifiers', async () => {
    const p = await problemOf(validateChallenge(challenge('dns-01'), settings({ dnsResolver: `127.0.0.1:${closedPort}`, timeoutMs: 300 })));
    expect(p.type).toBe('dns');
    const ip = await problemOf(validateChallenge(challenge('dns-01', { identifier: { type: 'ip', value: '127.0.0.1' } }), settings()));
    expect(ip.type).toBe('unsupportedIdentifier');
  });
});

// ---- settings ---------------------------------------------------------------------------------

describe('parseValidationSettings', () => {
  it('has safe defaults: ports 80/443, private networks without loopback, the system resolver, 10 s', () => {
    const s = parseValidationSettings({});
    expect(s).toMatchObject({ httpPort: 80, tlsPort: 443, dnsResolver: null, timeoutMs: 10_000 });
    expect(s.allowedNetworks).toEqual([...DEFAULT_ALLOWED_NETWORKS]);
    const allowed = networkMatcher(s.allowedNetworks);
    expect(['10.1.2.3', '172.31.0.1', '192.168.1.1', 'fd00::1', '::ffff:10.0.0.1'].every(allowed)).toBe(true);
    expect(['127.0.0.1', '::1', '169.254.169.254', '8.8.8.8', '172.32.0.1', 'fe80::1'].some(allowed)).toBe(false);
  });

  it('reads every variable', () => {
    const s = parseValidationSettings({
      ANVIL_ACME_HTTP_PORT: '5002',
      ANVIL_ACME_TLS_PORT: '5001',
      ANVIL_ACME_HOSTS: 'A.example.test=127.0.0.1, b.example.test=::1',
      ANVIL_ACME_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
      ANVIL_ACME_DNS_RESOLVER: '[::1]:5353',
      ANVIL_ACME_VALIDATION_TIMEOUT_MS: '2500',
    });
    expect(s).toMatchObject({ httpPort: 5002, tlsPort: 5001, dnsResolver: '[::1]:5353', timeoutMs: 2500 });
    expect([...s.hosts]).toEqual([
      ['a.example.test', '127.0.0.1'],
      ['b.example.test', '::1'],
    ]);
    expect(s.allowedNetworks).toEqual(['127.0.0.0/8', '::1/128']);
    expect(parseValidationSettings({ ANVIL_ACME_DNS_RESOLVER: '10.0.0.53' }).dnsResolver).toBe('10.0.0.53:53');
    expect(parseValidationSettings({ ANVIL_ACME_ALLOWED_NETWORKS: 'none' }).allowedNetworks).toEqual([]);
  });

  it.each([
    [{ ANVIL_ACME_HTTP_PORT: '0' }, /ANVIL_ACME_HTTP_PORT/],
    [{ ANVIL_ACME_TLS_PORT: 'https' }, /ANVIL_ACME_TLS_PORT/],
    [{ ANVIL_ACME_HOSTS: 'a.example.test' }, /ANVIL_ACME_HOSTS/],
    [{ ANVIL_ACME_HOSTS: 'a.example.test=host.example.test' }, /ANVIL_ACME_HOSTS/],
    [{ ANVIL_ACME_ALLOWED_NETWORKS: '10.0.0.0/' }, /ANVIL_ACME_ALLOWED_NETWORKS/],
    [{ ANVIL_ACME_ALLOWED_NETWORKS: '10.0.0.0/33' }, /ANVIL_ACME_ALLOWED_NETWORKS/],
    [{ ANVIL_ACME_DNS_RESOLVER: 'dns.example.test:53' }, /ANVIL_ACME_DNS_RESOLVER/],
    [{ ANVIL_ACME_VALIDATION_TIMEOUT_MS: '10s' }, /ANVIL_ACME_VALIDATION_TIMEOUT_MS/],
  ])('refuses %o with a message naming the variable', (env, message) => {
    expect(() => parseValidationSettings(env)).toThrow(message);
  });

  it('writes the RFC 8738 reverse names used as SNI for ip identifiers', () => {
    expect(reverseName('192.0.2.5')).toBe('5.2.0.192.in-addr.arpa');
    expect(reverseName('2001:db8::1')).toBe(`1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
  });
});
