/**
 * The real attempt: TLS with the client certificate, then one HTTP/1.1 request. With TLS 1.3
 * the client finishes its handshake before the server has judged the certificate, so a refusal
 * arrives as an alert on the first read; sending the request and reading the answer is what
 * reveals it. The key goes to `tls.connect` only, which signs with it and never transmits it.
 */
import { connect } from 'node:tls';
import { ALERTS, alertOf } from './alerts.ts';
import { tlsOptions, unreachable } from './probe.ts';
import type { Target } from './target.ts';

export interface HttpAnswer {
  status: number;
  reason: string;
  headers: Record<string, string>;
  /** The first 500 bytes of the body. */
  body: string;
}

export type HandshakeOutcome =
  | { kind: 'answered'; http: HttpAnswer }
  | { kind: 'alert'; alert: number; name: string; meaning: string; afterHandshake: boolean; message: string }
  | { kind: 'closed'; afterHandshake: boolean; message: string }
  /** Not tried: the local material cannot make a handshake (e.g. the key does not match). */
  | { kind: 'not_attempted'; message: string };

export function attempt(
  target: Target,
  material: { cert: string; key: string; ca?: string },
  timeoutMs = 10_000,
): Promise<HandshakeOutcome> {
  return new Promise((resolve, reject) => {
    let handshook = false;
    let settled = false;
    const chunks: Buffer[] = [];
    let socket: ReturnType<typeof connect>;
    try {
      socket = connect({ ...tlsOptions(target, material.ca), cert: material.cert, key: material.key });
    } catch (err) {
      // createSecureContext refuses a key that does not match, before any byte is sent.
      resolve({ kind: 'not_attempted', message: (err as NodeJS.ErrnoException).code ?? 'the certificate and key could not be loaded' });
      return;
    }
    const finish = (outcome: HandshakeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'closed', afterHandshake: handshook, message: 'no answer within 10 s' }), timeoutMs);
    socket.once('secureConnect', () => {
      handshook = true;
      socket.write(
        `GET ${target.path} HTTP/1.1\r\nHost: ${target.servername ?? target.host}:${target.port}\r\nUser-Agent: anvil-doctor\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
      );
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('end', () => {
      const http = parseHttp(Buffer.concat(chunks));
      finish(
        http
          ? { kind: 'answered', http }
          : { kind: 'closed', afterHandshake: handshook, message: 'the server closed the connection without an HTTP answer' },
      );
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      const alert = alertOf(err);
      if (alert !== null) {
        const a = ALERTS[alert] ?? { name: `alert ${alert}`, meaning: 'an alert this doctor does not know' };
        finish({ kind: 'alert', alert, name: a.name, meaning: a.meaning, afterHandshake: handshook, message: err.message });
      } else if (!handshook && (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'ETIMEDOUT')) {
        settled = true;
        clearTimeout(timer);
        reject(unreachable(target, err));
      } else {
        const http = parseHttp(Buffer.concat(chunks));
        finish(http ? { kind: 'answered', http } : { kind: 'closed', afterHandshake: handshook, message: err.message });
      }
    });
  });
}

/** A minimal HTTP/1.1 response reader: status line, headers, and the body (de-chunked) cut to 500 bytes. */
export function parseHttp(raw: Buffer): HttpAnswer | null {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const m = /^HTTP\/\d(?:\.\d)? (\d{3}) ?([^\r\n]*)/.exec(text);
  if (!m || end < 0) return null;
  const headers: Record<string, string> = {};
  for (const line of text.slice(0, end).split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(m[1]), reason: m[2], headers, body: body.subarray(0, 500).toString('utf8') };
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
