/**
 * Turning what arrives over HTTP into judge input: expected names, the Accept header, pasted
 * PEM, and client certificates forwarded by a TLS-terminating proxy.
 */
import { BlockList, isIP } from 'node:net';
import { parsePemBlocks, PemError, type ExpectName } from '@anvil/pki';

export const EXPECT_TYPES = ['dns', 'uri', 'email', 'ip'] as const;

export class JudgeInputProblem extends Error {
  constructor(
    readonly status: 400 | 422,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** "dns:api.example.com", "uri:spiffe://…", "email:…", "ip:10.0.0.1" (or {type, value}). */
export function parseExpectName(input: string | { type: string; value: string }, field = 'expectName'): ExpectName {
  let type: string;
  let value: string;
  if (typeof input === 'string') {
    const i = input.indexOf(':');
    if (i < 0) throw new JudgeInputProblem(400, 'invalid_expect_name', `${field} is "type:value" with type one of ${EXPECT_TYPES.join(', ')} (e.g. "dns:api.example.com")`);
    type = input.slice(0, i).toLowerCase();
    value = input.slice(i + 1);
  } else {
    type = input.type.toLowerCase();
    value = input.value;
  }
  if (!(EXPECT_TYPES as readonly string[]).includes(type)) {
    throw new JudgeInputProblem(400, 'invalid_expect_name', `${field}: "${type.slice(0, 20)}" is not a name type; use one of ${EXPECT_TYPES.join(', ')}`);
  }
  if (value.length === 0 || value.length > 2048 || /[\u0000-\u001f\s]/.test(value)) {
    throw new JudgeInputProblem(400, 'invalid_expect_name', `${field}: the ${type} value is empty, too long or contains whitespace`);
  }
  if (type === 'ip' && !isIP(value)) throw new JudgeInputProblem(400, 'invalid_expect_name', `${field}: "${value.slice(0, 64)}" is not an IP address`);
  return { type: type as ExpectName['type'], value };
}

/**
 * Whether the Accept header prefers text/html to JSON: browsers send text/html first; curl
 * sends only * / *, which gets JSON. A tie goes to JSON.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  let any = 0;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q)) continue;
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, q);
    else if (type === 'application/json' || type === 'application/problem+json') json = Math.max(json, q);
    else if (type === '*/*' || type === 'application/*') any = Math.max(any, q);
  }
  return html > Math.max(json, any);
}

/**
 * The DER blocks of a PEM text, in order. Anything but the expected label is refused, not
 * skipped (a private key pasted by mistake must not pass silently). `code` names the field in
 * error codes: malformed_<code> (400, not PEM), empty_<code> (422, no block).
 */
export function pemBlocksOf(text: string, field: string, code: string, what: 'certificate' | 'crl' = 'certificate'): Uint8Array[] {
  let blocks;
  try {
    blocks = parsePemBlocks(text);
  } catch (e) {
    throw new JudgeInputProblem(400, `malformed_${code}`, `${field}: ${(e as PemError).message}`);
  }
  const label = what === 'crl' ? 'X509 CRL' : 'CERTIFICATE';
  const other = blocks.find((b) => b.label !== label && !(what === 'certificate' && (b.label === 'X509 CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE')));
  if (other) {
    const key = /PRIVATE KEY/.test(other.label);
    throw new JudgeInputProblem(
      422,
      key ? 'private_key_sent' : `unexpected_pem_block`,
      key
        ? `${field} contains a private key ("${other.label}"). Never send private keys anywhere: treat this key as compromised and replace it.`
        : `${field}: expected only "${label}" PEM blocks, found "${other.label}"`,
    );
  }
  if (blocks.length === 0) {
    if (/-----BEGIN/.test(text)) throw new JudgeInputProblem(400, `malformed_${code}`, `${field}: a PEM block is not closed, or its END line does not match its BEGIN line`);
    throw new JudgeInputProblem(422, `empty_${code}`, `${field} holds no "-----BEGIN ${label}-----" block`);
  }
  return blocks.map((b) => b.der);
}

// ---- trusted proxies ------------------------------------------------------------------------

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
      if (!(prefix <= (family === 6 ? 128 : 32))) throw new Error(`ANVIL_TRUSTED_PROXIES: "${entry}" has no valid prefix length (0-${family === 6 ? 128 : 32})`);
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
  header: 'x-client-cert' | 'x-forwarded-client-cert';
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
    return { header: 'x-forwarded-client-cert', chain: pemBlocksOf(pem, 'the forwarded certificate', 'forwarded_certificate'), leafOnly: !last.chain };
  }
  const nginx = headers.get('x-client-cert');
  if (nginx && nginx.trim()) {
    // $ssl_client_escaped_cert is URL-encoded; the deprecated $ssl_client_cert is PEM with
    // continuation lines starting with a tab.
    const pem = nginx.includes('%') ? decode(nginx) : nginx.replace(/\t/g, '\n');
    return { header: 'x-client-cert', chain: pemBlocksOf(pem, 'the forwarded certificate', 'forwarded_certificate'), leafOnly: true };
  }
  return null;
}

export const FORWARD_HEADERS = ['x-client-cert', 'x-forwarded-client-cert'] as const;
