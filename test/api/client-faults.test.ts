/**
 * Issue 8, "Quiet on client faults": what a client does wrong is answered and logged as the
 * client's doing, never as a server error.
 *
 * - A client that disconnects in the middle of its request body (Content-Length: 10000, ten
 *   bytes, socket destroyed) is one info line "client aborted the request" with its request id:
 *   no "unhandled error", no 500, no "database unavailable" (Node's abort error has code
 *   ECONNRESET), nothing on the console from @hono/node-server. Real sockets, both listeners.
 * - A chain longer than the judge reads (MAX_PRESENTED) is judged on its first certificates,
 *   and the verdict says how many were presented (presentedCount) and that the rest were not
 *   read (check presented_count, a hint) — at POST /api/v1/judge, GET /verify on the mTLS
 *   listener, and GET /verify behind a trusted proxy.
 */
import { connect as netConnect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { MAX_PRESENTED, type Verdict } from '@anvil/pki';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';

interface Issued {
  id: string;
  certificate: string;
  fullchain: string;
  privateKey: string;
}

interface LogLine {
  level: number;
  msg: string;
  requestId?: string;
  status?: number;
  aborted?: boolean;
  listener?: string;
  [k: string]: unknown;
}

let anvil: TestAnvil;
const lines: LogLine[] = [];
let good: Issued;
/** Other certificates of this Anvil, to pad chains with. */
let padding: string[] = [];

async function issue(body: Record<string, unknown>): Promise<Issued> {
  const res = await anvil.api('POST', '/api/v1/certificates', body);
  if (res.status !== 201) throw new Error(`issuance failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as Issued;
}

beforeAll(async () => {
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  anvil = await createTestAnvil({ listen: true, mtls: true, log, trustedProxies: ['127.0.0.1'] });
  good = await issue({ profile: 'client', subject: { CN: 'faults-good' }, sans: { dns: ['good.faults.test'] } });
  const others = await Promise.all(
    Array.from({ length: 48 }, (_, i) =>
      issue({ profile: 'client', subject: { CN: `faults-pad-${i}` }, sans: { dns: [`pad${i}.faults.test`] } }),
    ),
  );
  padding = others.map((o) => o.certificate);
});

afterAll(async () => {
  await anvil?.close();
});

async function lineFor(requestId: string, msg: string, timeoutMs = 5_000): Promise<LogLine> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const line = lines.find((l) => l.requestId === requestId && l.msg === msg);
    if (line) return line;
    if (Date.now() > until)
      throw new Error(`no "${msg}" line for ${requestId}; lines: ${JSON.stringify(lines.filter((l) => l.requestId === requestId))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends the request head and ten bytes of a 10000-byte body, then destroys the socket. */
function abortMidBody(open: () => import('node:net').Socket, path: string, requestId: string, contentType: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = open();
    const send = () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${anvil.token}\r\nContent-Type: ${contentType}\r\nContent-Length: 10000\r\nX-Request-Id: ${requestId}\r\n\r\n0123456789`,
      );
      // Long enough for the server to be reading the body when the client goes.
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 150);
    };
    socket.once('connect', () => {
      if (!('encrypted' in socket)) send();
    });
    socket.once('secureConnect', send);
    socket.once('error', reject);
  });
}

describe('a client that disconnects in the middle of its request body', () => {
  let consoleSpies: MockInstance[] = [];
  beforeEach(() => {
    consoleSpies = (['error', 'warn', 'info', 'log'] as const).map((m) => vi.spyOn(console, m));
  });
  afterEach(() => {
    for (const s of consoleSpies) s.mockRestore();
  });

  function expectQuiet(requestId: string, line: LogLine) {
    expect(line).toMatchObject({ level: 30, requestId, aborted: true, status: 400 });
    const ours = lines.filter((l) => l.requestId === requestId);
    expect(
      ours.filter((l) => l.level >= 40),
      JSON.stringify(ours),
    ).toEqual([]);
    expect(ours.some((l) => l.msg === 'unhandled error' || l.msg === 'database unavailable' || l.status === 500)).toBe(false);
    expect(lines.some((l) => l.msg === 'unhandled error')).toBe(false);
    for (const s of consoleSpies) expect(s, 'nothing on the console (@hono/node-server logs there)').not.toHaveBeenCalled();
  }

  const port = () => Number(new URL(anvil.publicUrl).port);
  const plain = () => netConnect(port(), '127.0.0.1');

  // /ocsp reads the raw body itself (the "unhandled error" of before); the API routes read it through the JSON validator.
  for (const [path, type] of [
    ['/ocsp', 'application/ocsp-request'],
    ['/api/v1/certificates', 'application/json'],
    ['/api/v1/judge', 'application/json'],
  ] as const) {
    it(`POST ${path} on the HTTP listener: one info line with the request id`, async () => {
      const requestId = `abort-${path.replace(/\W/g, '-')}`;
      await abortMidBody(plain, path, requestId, type);
      const line = await lineFor(requestId, 'client aborted the request');
      await new Promise((r) => setTimeout(r, 100)); // anything logged late would show now
      expect(line).toMatchObject({ method: 'POST', path });
      expectQuiet(requestId, line);
    });
  }

  it('POST /api/v1/renew on the mTLS listener, with a valid client certificate', async () => {
    const requestId = 'abort-mtls-renew';
    const open = () =>
      tlsConnect({ host: '127.0.0.1', port: anvil.mtls!.port, cert: good.fullchain, key: good.privateKey, rejectUnauthorized: false });
    await abortMidBody(open, '/api/v1/renew', requestId, 'application/pkcs10');
    const line = await lineFor(requestId, 'client aborted the request');
    await new Promise((r) => setTimeout(r, 100));
    expect(line).toMatchObject({ listener: 'mtls', method: 'POST', path: '/api/v1/renew' });
    expectQuiet(requestId, line);
  });

  it('a complete request afterwards is logged as usual', async () => {
    const res = await fetch(`${anvil.publicUrl}/api/v1/profiles`, {
      headers: { authorization: `Bearer ${anvil.token}`, 'x-request-id': 'after-abort' },
    });
    expect(res.status).toBe(200);
    expect(await lineFor('after-abort', 'request')).toMatchObject({ level: 30, status: 200 });
    expect(lines.some((l) => l.requestId === 'after-abort' && l.aborted)).toBe(false);
  });
});

// ---- a chain longer than the judge reads -----------------------------------------------------------

function expectCut(v: Verdict, total: number) {
  expect(v.presentedCount).toBe(total);
  expect(v.presented).toHaveLength(MAX_PRESENTED);
  const check = v.checks.find((c) => c.name === 'presented_count');
  expect(check).toEqual({
    name: 'presented_count',
    ok: false,
    detail: `${total} certificates were presented; only the first ${MAX_PRESENTED} were read`,
  });
  expect(v.checks.find((c) => c.name === 'certificate')?.detail).toMatch(new RegExp(`^${total} certificates presented`));
  expect(v.hints.some((h) => h.includes(`sent ${total} certificates`) && h.includes(`only the first ${MAX_PRESENTED}`))).toBe(true);
}

async function judge(chain: string[]): Promise<Verdict> {
  const res = await anvil.api('POST', '/api/v1/judge', { chain: chain.join('') });
  expect(res.status).toBe(200);
  return (await res.json()) as Verdict;
}

function mtlsVerify(cert: string, key: string, accept = 'application/json'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: anvil.mtls!.port,
        path: '/verify',
        cert,
        key,
        rejectUnauthorized: false,
        agent: false,
        headers: { accept },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe(`a chain longer than the judge reads (${MAX_PRESENTED})`, () => {
  const intermediate = () => good.fullchain.slice(good.certificate.length);
  const fifty = () => [good.fullchain, ...padding]; // leaf, intermediate, 48 more

  it('POST /api/v1/judge: judged on the first ones, and says 50 were presented', async () => {
    expect(
      fifty()
        .join('')
        .match(/BEGIN CERTIFICATE/g),
    ).toHaveLength(50);
    const v = await judge(fifty());
    expect(v).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    expectCut(v, 50);
    // Verified: the cut is mentioned after whatever else there is to say.
    expect(v.hints[v.hints.length - 1]).toContain('only the first 16');
  });

  it('POST /api/v1/judge: an intermediate among the certificates not read is missing, and the cut is the first hint', async () => {
    const v = await judge([good.certificate, ...padding.slice(0, 30), intermediate()]);
    expect(v).toMatchObject({ status: 'failed', reason: 'missing_intermediate' });
    expectCut(v, 32);
    expect(v.hints[0]).toContain('sent 32 certificates');
  });

  it('POST /api/v1/judge: up to the limit nothing is cut, and presentedCount is there', async () => {
    const exactly = await judge([good.fullchain, ...padding.slice(0, MAX_PRESENTED - 2)]);
    expect(exactly.presentedCount).toBe(MAX_PRESENTED);
    expect(exactly.presented).toHaveLength(MAX_PRESENTED);
    expect(exactly.checks.some((c) => c.name === 'presented_count')).toBe(false);
    const two = await judge([good.fullchain]);
    expect([two.status, two.presentedCount, two.presented.length]).toEqual(['verified', 2, 2]);
    const absent = await anvil.app.request('/verify', { headers: { accept: 'application/json' } });
    expect(((await absent.json()) as Verdict).presentedCount).toBe(0);
  });

  it('the OpenAPI document describes presentedCount', async () => {
    const doc = (await (await anvil.app.request('/api/v1/openapi.json')).json()) as {
      components: { schemas: Record<string, { properties: Record<string, { type: string }>; required: string[] }> };
    };
    expect(doc.components.schemas.Verdict.properties.presentedCount.type).toBe('integer');
    expect(doc.components.schemas.Verdict.required).toContain('presentedCount');
  });

  it('GET /verify on the mTLS listener: the TLS handshake carried 50, the verdict says so (JSON and page)', async () => {
    const res = await mtlsVerify(fifty().join(''), good.privateKey);
    expect(res.status).toBe(200);
    const v = JSON.parse(res.body) as Verdict;
    expect(v.checks[0]).toEqual({ name: 'source', ok: true, detail: 'TLS handshake: the client sent 50 certificates' });
    expect(v).toMatchObject({ status: 'verified', nginx: 'SUCCESS' });
    expectCut(v, 50);
    const page = await mtlsVerify(fifty().join(''), good.privateKey, 'text/html');
    expect(page.body).toContain('50 certificates were presented; only the first 16 were read');
    expect(page.body).toContain('Presented (the first 16 of 50, all that was read)');
  });

  it('GET /verify behind a trusted proxy (Envoy X-Forwarded-Client-Cert with the chain)', async () => {
    const res = await anvil.app.request(
      '/verify',
      { headers: { accept: 'application/json', 'x-forwarded-client-cert': `Hash=x;Chain=${encodeURIComponent(fifty().join(''))}` } },
      { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 40000, remoteFamily: 'IPv4' } } },
    );
    const v = (await res.json()) as Verdict;
    expect(v.status).toBe('verified');
    expectCut(v, 50);
  });
});
