/**
 * The judge behind a TLS-terminating proxy: which addresses are trusted (ANVIL_TRUSTED_PROXIES),
 * how the forwarded client certificate is read (nginx X-Client-Cert, Envoy X-Forwarded-Client-Cert,
 * HAProxy X-SSL-Client-Der, Cloudflare Cf-Client-Cert-Der-Base64 and RFC 9440 Client-Cert), and the
 * chain source GET /verify uses on the plain HTTP listener.
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { JudgeCheck } from '@anvil/pki';
import { JudgeInputProblem, pemBlocksOf } from './input.ts';
import type { ChainSource } from './verify.ts';

export interface TrustedProxies {
  trusts(address: string | null | undefined): boolean;
  readonly configured: boolean;
}

/** ANVIL_TRUSTED_PROXIES: addresses or CIDR blocks, IPv4 or IPv6. */
export function trustedProxies(list: string[]): TrustedProxies {
  const block = new BlockList();
  for (const entry of list) {
    const [addr, bits, ...extra] = entry.split('/');
    const family = isIP(addr);
    if (!family) throw new Error(`ANVIL_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR block`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits !== undefined) {
      // Number('') is 0: "10.0.0.0/" would otherwise become /0 and trust every address.
      const prefix = /^\d{1,3}$/.test(bits) && extra.length === 0 ? Number(bits) : NaN;
      if (!(prefix <= (family === 6 ? 128 : 32)))
        throw new Error(`ANVIL_TRUSTED_PROXIES: "${entry}" has no valid prefix length (0-${family === 6 ? 128 : 32})`);
      block.addSubnet(addr, prefix, type);
    } else block.addAddress(addr, type);
  }
  return {
    configured: list.length > 0,
    trusts(address) {
      if (!address || list.length === 0) return false;
      const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
      const a = v4 ?? address;
      const family = isIP(a);
      if (!family) return false;
      return block.check(a, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

export interface ForwardedChain {
  header: (typeof FORWARD_HEADERS)[number];
  /** DER, leaf first, as the proxy forwarded it. */
  chain: Uint8Array[];
  /** true when the proxy forwards only the leaf (nginx $ssl_client_escaped_cert). */
  leafOnly: boolean;
}

const decode = (v: string): string => {
  try {
    return decodeURIComponent(v);
  } catch {
    throw new JudgeInputProblem(400, 'malformed_forwarded_certificate', 'the forwarded certificate is not valid URL-encoding');
  }
};

/**
 * Envoy's X-Forwarded-Client-Cert: elements separated by commas, each `Key=value` pairs
 * separated by semicolons, values optionally double-quoted (with \" escapes). Every proxy
 * appends its own element at the end, so the last element is the one the proxy in front of
 * Anvil — the one whose address is trusted — wrote about the connection it terminated.
 */
export function parseXfcc(header: string): Array<Record<string, string>> {
  const elements: Array<Record<string, string>> = [];
  let element: Record<string, string> = {};
  const h = header;
  let i = 0;
  while (i < h.length) {
    let key = '';
    while (i < h.length && h[i] !== '=' && h[i] !== ';' && h[i] !== ',') key += h[i++];
    let value = '';
    if (h[i] === '=') {
      i++;
      while (h[i] === ' ') i++;
      if (h[i] === '"') {
        i++;
        while (i < h.length && h[i] !== '"') {
          if (h[i] === '\\' && i + 1 < h.length) i++;
          value += h[i++];
        }
        i++; // the closing quote
        while (i < h.length && h[i] !== ';' && h[i] !== ',') i++;
      } else {
        while (i < h.length && h[i] !== ';' && h[i] !== ',') value += h[i++];
        value = value.trim();
      }
    }
    if (key.trim()) element[key.trim().toLowerCase()] = value;
    if (h[i] === ',') {
      elements.push(element);
      element = {};
    }
    i++; // the separator
  }
  if (Object.keys(element).length) elements.push(element);
  return elements;
}

/** The client chain a trusted proxy forwarded, or null when it forwarded none. */
export function forwardedChain(headers: { get(name: string): string | undefined }): ForwardedChain | null {
  const xfcc = headers.get('x-forwarded-client-cert');
  if (xfcc) {
    const elements = parseXfcc(xfcc);
    const last = elements[elements.length - 1];
    const pem = last?.chain ? decode(last.chain) : last?.cert ? decode(last.cert) : null;
    if (!pem) return null;
    return {
      header: 'x-forwarded-client-cert',
      chain: pemBlocksOf(pem, 'the forwarded certificate', 'forwarded_certificate'),
      leafOnly: !last.chain,
    };
  }
  const nginx = headers.get('x-client-cert');
  if (nginx?.trim()) {
    // $ssl_client_escaped_cert is URL-encoded; the deprecated $ssl_client_cert is PEM with
    // continuation lines starting with a tab.
    const pem = nginx.includes('%') ? decode(nginx) : nginx.replace(/\t/g, '\n');
    return { header: 'x-client-cert', chain: pemBlocksOf(pem, 'the forwarded certificate', 'forwarded_certificate'), leafOnly: true };
  }
  return derHeaderChain(headers);
}

/**
 * Every header a trusted proxy may carry the client certificate in. The gateway right in front of
 * Anvil (Envoy, nginx, HAProxy) comes first: behind Cloudflare its own header would describe
 * Cloudflare's origin-pull certificate, and a gateway that forwards the client's passes the
 * Cloudflare headers on instead.
 */
export const FORWARD_HEADERS = [
  'x-client-cert',
  'x-forwarded-client-cert',
  'x-ssl-client-der',
  'cf-client-cert-der-base64',
  'client-cert',
  'client-cert-chain',
] as const;

const base64Der = (value: string, header: string): Uint8Array => {
  const b64 = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 === 1)
    throw new JudgeInputProblem(400, 'malformed_forwarded_certificate', `${header} is not base64 DER`);
  return new Uint8Array(Buffer.from(b64, 'base64'));
};

/** An RFC 9440 (Structured Fields) byte sequence: `:base64:`; a list of them for Client-Cert-Chain. */
const rfc9440List = (value: string, header: string): Uint8Array[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const m = /^:([^:]*):$/.exec(item);
      if (!m) throw new JudgeInputProblem(400, 'malformed_forwarded_certificate', `${header} is not an RFC 9440 byte sequence (:base64:)`);
      return base64Der(m[1], header);
    });

/**
 * HAProxy (`http-request set-header X-SSL-Client-Der %[ssl_c_der,base64]`), Cloudflare's
 * client_certificate_forwarding (Cf-Client-Cert-Der-Base64, with Cf-Client-Cert-Sha256 beside it)
 * and Cloudflare Transform Rules or other proxies writing RFC 9440 Client-Cert / Client-Cert-Chain.
 */
function derHeaderChain(headers: { get(name: string): string | undefined }): ForwardedChain | null {
  const haproxy = headers.get('x-ssl-client-der')?.trim();
  if (haproxy) return { header: 'x-ssl-client-der', chain: [base64Der(haproxy, 'X-SSL-Client-Der')], leafOnly: true };
  const cf = headers.get('cf-client-cert-der-base64')?.trim();
  if (cf) {
    const der = base64Der(cf, 'Cf-Client-Cert-Der-Base64');
    // Its documentation does not show the fingerprint's format: compared only when it is hex.
    const sha = headers.get('cf-client-cert-sha256')?.trim().toLowerCase().replace(/:/g, '');
    if (sha && /^[0-9a-f]{64}$/.test(sha) && sha !== createHash('sha256').update(der).digest('hex')) {
      const detail = 'Cf-Client-Cert-Sha256 is not the SHA-256 of Cf-Client-Cert-Der-Base64';
      throw new JudgeInputProblem(400, 'malformed_forwarded_certificate', detail);
    }
    return { header: 'cf-client-cert-der-base64', chain: [der], leafOnly: true };
  }
  const leaf = headers.get('client-cert')?.trim();
  if (leaf) {
    // RFC 9440: Client-Cert is one certificate; an empty value (Cloudflare's when none) is none.
    const [cert, ...extra] = rfc9440List(leaf, 'Client-Cert');
    if (!cert) return null;
    if (extra.length) throw new JudgeInputProblem(400, 'malformed_forwarded_certificate', 'Client-Cert holds more than one certificate');
    const chain = headers.get('client-cert-chain');
    const rest = chain ? rfc9440List(chain, 'Client-Cert-Chain') : [];
    return { header: 'client-cert', chain: [cert, ...rest], leafOnly: chain === undefined };
  }
  return null;
}

/**
 * Source for the plain HTTP listener: certificates a trusted proxy forwarded. Headers from any
 * other address are ignored — anyone can send them — and the verdict says so.
 */
export function proxySource(trusted: TrustedProxies, anvilIntermediatesFor: (leaf: Uint8Array) => Uint8Array[] | null): ChainSource {
  return (c) => {
    const address = c.get('clientAddress') ?? null;
    const sent = FORWARD_HEADERS.filter((h) => c.req.header(h));
    if (sent.length === 0) {
      return {
        chain: [],
        checks: [
          {
            name: 'source',
            ok: false,
            detail:
              'plain HTTP request: no TLS client certificate here, and no X-Client-Cert, X-Forwarded-Client-Cert, X-SSL-Client-Der, Cf-Client-Cert-Der-Base64 or Client-Cert header from a trusted proxy',
          },
        ],
        hints: [
          "This is Anvil's plain HTTP listener. Call /verify on the mTLS listener (https://<host>:8443/verify, ANVIL_MTLS_PORT) with your certificate and key, or through a proxy that forwards the client certificate.",
        ],
      };
    }
    if (!trusted.trusts(address)) {
      return {
        chain: [],
        checks: [
          {
            name: 'proxy_headers',
            ok: false,
            detail: `${sent.join(' and ')} ignored: the connection came from ${address ?? 'an unknown address'}, which is not in ANVIL_TRUSTED_PROXIES${trusted.configured ? '' : ' (empty)'}`,
          },
        ],
        hints: [
          `The forwarded certificate was ignored because ${address ?? 'the sender'} is not a trusted proxy. If it is your TLS-terminating proxy, add its address to ANVIL_TRUSTED_PROXIES; otherwise call the mTLS listener directly.`,
        ],
      };
    }
    const forwarded = forwardedChain({ get: (n) => c.req.header(n) });
    if (!forwarded) {
      return {
        chain: [],
        checks: [
          { name: 'proxy_headers', ok: true, detail: `${sent.join(' and ')} from trusted proxy ${address} carries no client certificate` },
        ],
      };
    }
    const checks: JudgeCheck[] = [];
    let chain = forwarded.chain;
    if (forwarded.leafOnly && chain.length === 1) {
      const intermediates = anvilIntermediatesFor(chain[0]);
      if (intermediates?.length) {
        chain = [...chain, ...intermediates];
        checks.push({
          name: 'proxy_headers',
          ok: true,
          detail: `${forwarded.header} from trusted proxy ${address} carries only the leaf; Anvil added the intermediate(s) that issued it, so this verdict cannot tell whether the client sent them (the proxy's own $ssl_client_verify can)`,
        });
      } else {
        checks.push({
          name: 'proxy_headers',
          ok: true,
          detail: `${forwarded.header} from trusted proxy ${address} carries only the leaf certificate`,
        });
      }
    } else {
      checks.push({
        name: 'proxy_headers',
        ok: true,
        detail: `${forwarded.header} from trusted proxy ${address}: ${chain.length} certificate${chain.length === 1 ? '' : 's'}`,
      });
    }
    return { chain, checks };
  };
}
