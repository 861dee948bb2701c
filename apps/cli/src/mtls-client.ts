/** One HTTPS request to Anvil's mTLS listener presenting a client certificate (what `anvil renew` sends). */
// Failures come back classified (MtlsNetworkError: no answer, or the listener's own certificate is
// not trusted; else the HTTP answer), so the command can pick its exit status.
import { request } from 'node:https';
import { isIP } from 'node:net';

export interface MtlsAnswer {
  status: number;
  contentType: string;
  body: string;
}

export class MtlsNetworkError extends Error {
  constructor(
    message: string,
    readonly tls: boolean,
  ) {
    super(message);
  }
}

export function mtlsRequest(
  url: URL,
  options: {
    method: string;
    /** Client certificate chain (leaf first) and its key, PEM. */
    cert: string;
    key: string;
    /** Trust for the listener's own certificate, PEM. */
    ca: string;
    body?: string;
    contentType?: string;
    timeoutMs?: number;
  },
): Promise<MtlsAnswer> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const req = request(
      url,
      {
        method: options.method,
        headers: {
          accept: 'application/json, application/problem+json',
          ...(options.body !== undefined
            ? { 'content-type': options.contentType ?? 'text/plain', 'content-length': Buffer.byteLength(options.body) }
            : {}),
        },
        cert: options.cert,
        key: options.key,
        ca: options.ca,
        rejectUnauthorized: true,
        servername: isIP(host) ? undefined : host,
        timeout: options.timeoutMs ?? 60_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new MtlsNetworkError(`the answer from ${url.origin} broke off: ${err.message}`, false)));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const tls = /certificate|self.signed|unable to verify|UNABLE_TO|CERT_|ERR_TLS|SSL|alert/i.test(`${err.code} ${err.message}`);
      reject(
        new MtlsNetworkError(
          tls
            ? `TLS with ${url.host} failed: ${err.message}`
            : `cannot reach the mTLS listener at ${url.origin}: ${err.code ?? err.message}`,
          tls,
        ),
      );
    });
    req.end(options.body);
  });
}
