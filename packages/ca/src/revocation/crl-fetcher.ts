/** Fetching CRLs from the distribution points named in certificates Anvil did not issue (the judge's 'prefer' and 'require'), SSRF-narrowed. */
import { isIP } from 'node:net';
import { Lru, parseCrl, parsePemBlocks } from '@anvil/pki';

export class CrlFetchError extends Error {}

/**
 * GET a CRL named by a certificate's CRL distribution point.
 *
 * SSRF: the URL comes from a certificate the caller presented, so fetching it lets anyone who
 * can call the judge make this server send a GET to an address of their choosing — internal
 * admin ports, cloud metadata endpoints, hosts behind the firewall. That is why the service
 * fetches only when the caller asks for it ('prefer'/'require') or the operator turned it on for
 * 'auto', and why the fetch is narrow: http and https only (redirects too, at most 3), literal
 * link-local/unspecified addresses refused, a 5 s total timeout, a size cap, and the body is
 * only ever parsed as a CRL — never echoed back. Operators who cannot accept the residual risk
 * should keep the judge API behind authentication (it is) and block egress from Anvil.
 */
export async function fetchCrl(url: string, opts: CrlFetcherOptions): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let current = url;
  for (let hop = 0; hop <= 3; hop++) {
    let u: URL;
    try {
      u = new URL(current);
    } catch {
      throw new CrlFetchError(`not a URL: ${current.slice(0, 200)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new CrlFetchError(`only http and https CRL URLs are fetched, not ${u.protocol}`);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && /^(169\.254\.|0\.|fe80:|::$)/i.test(host))
      throw new CrlFetchError(`refusing to fetch from link-local or unspecified address ${host}`);
    let res: Response;
    try {
      res = await opts.fetchImpl(u, {
        redirect: 'manual',
        signal,
        headers: { accept: 'application/pkix-crl, application/x-pem-file;q=0.9, */*;q=0.1' },
      });
    } catch (e) {
      throw new CrlFetchError(
        `${u.origin}: ${(e as Error).name === 'TimeoutError' ? `no answer within ${opts.timeoutMs / 1000} s` : (e as Error).message}`,
      );
    }
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      await res.body?.cancel().catch(() => {});
      if (!location) throw new CrlFetchError(`${u.origin}: redirect without a Location`);
      current = new URL(location, u).toString();
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new CrlFetchError(`${u.origin}${u.pathname}: HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > opts.maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new CrlFetchError(`CRL larger than ${opts.maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = res.body?.getReader();
    if (!reader) throw new CrlFetchError('empty response');
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new CrlFetchError(`${u.origin}: ${(e as Error).message}`);
      }
      if (r.done) break;
      size += r.value.byteLength;
      if (size > opts.maxBytes) {
        await reader.cancel().catch(() => {});
        throw new CrlFetchError(`CRL larger than ${opts.maxBytes} bytes`);
      }
      chunks.push(r.value);
    }
    const body = new Uint8Array(Buffer.concat(chunks));
    if (body[0] === 0x30) return body;
    const text = Buffer.from(body).toString('latin1');
    const pem = text.includes('-----BEGIN') ? parsePemBlocks(text).find((b) => b.label === 'X509 CRL') : undefined;
    if (!pem) throw new CrlFetchError('the response is neither a DER nor a PEM CRL');
    return pem.der;
  }
  throw new CrlFetchError('too many redirects');
}

export interface CrlFetcherOptions {
  timeoutMs: number;
  maxBytes: number;
  fetchImpl: typeof fetch;
}

/** fetchCrl with a cache per URL: a minute at least, up to the CRL's nextUpdate, an hour at most. */
export class CrlFetcher {
  private readonly fetched = new Lru<{ der: Uint8Array; until: number }>(256);

  constructor(private readonly options: CrlFetcherOptions) {}

  async get(url: string): Promise<Uint8Array> {
    const hit = this.fetched.get(url);
    if (hit && hit.until > Date.now()) return hit.der;
    const der = await fetchCrl(url, this.options);
    let until = Date.now() + 60_000;
    try {
      const next = parseCrl(der).nextUpdate;
      if (next) until = Math.max(until, Math.min(next.getTime(), Date.now() + 3600_000));
    } catch {
      // judged by the caller
    }
    this.fetched.set(url, { der, until });
    return der;
  }
}
