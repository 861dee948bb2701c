/**
 * ACME challenge validation: http-01 (RFC 8555 8.3), dns-01 (RFC 8555 8.4) and tls-alpn-01
 * (RFC 8737), for dns identifiers and, where the RFC allows it, ip identifiers (RFC 8738).
 *
 * A validation makes Anvil open a connection to an address an ACME client chose (through the name
 * it asked for), so where it may connect is the operator's decision, not the client's: the address
 * comes from ANVIL_ACME_HOSTS or DNS and must lie in ANVIL_ACME_ALLOWED_NETWORKS; the ports are
 * fixed by configuration. Nothing the validated server answers is echoed back into a problem
 * detail beyond its length, so a validation cannot be used to read a private service.
 *
 * Redirects are never followed for http-01: RFC 8555 8.3 allows following them (to ports 80/443
 * only), but a private CA validates hosts on the operator's networks, and a redirect would let the
 * answering server send Anvil somewhere the allowed-network check did not look at. A 3xx is an
 * `incorrectResponse`.
 */
import { createHash } from 'node:crypto';
import { lookup, Resolver } from 'node:dns/promises';
import { request } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { certificateSans, readCertificate } from '@anvil/pki';
import { AcmeProblem, acmeProblem } from './problems.ts';

export interface ValidationSettings {
  httpPort: number;
  tlsPort: number;
  /** Static name → address map consulted before DNS (lower-case names). */
  hosts: ReadonlyMap<string, string>;
  /** CIDR blocks (IPv4 and IPv6) a validation may connect to. */
  allowedNetworks: readonly string[];
  /** `host:port` of the DNS server for dns-01 and name resolution; null = the system's. */
  dnsResolver: string | null;
  timeoutMs: number;
}

export interface ChallengeToValidate {
  type: 'http-01' | 'dns-01' | 'tls-alpn-01';
  identifier: { type: 'dns' | 'ip'; value: string };
  token: string;
  keyAuthorization: string;
}

/** The largest http-01 body read: a key authorization is under 100 bytes, anything past this is not one. */
export const HTTP01_MAX_BODY = 8 * 1024;

/** RFC 8737 3: id-pe-acmeIdentifier. */
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

/**
 * Private networks only: a private CA validates hosts on the operator's own networks. Loopback is
 * left out (a name resolving to 127.0.0.1 would be "proven" by whatever runs on the CA's own
 * host), and so is link-local (169.254/16 holds cloud metadata services). Set
 * ANVIL_ACME_ALLOWED_NETWORKS to widen or narrow it; `none` refuses http-01 and tls-alpn-01.
 */
export const DEFAULT_ALLOWED_NETWORKS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'] as const;

export const DEFAULT_VALIDATION_TIMEOUT_MS = 10_000;

/** Validates one challenge; resolves when it passed, throws AcmeProblem (with the identifier as subproblem) when not. */
export async function validateChallenge(ch: ChallengeToValidate, settings: ValidationSettings): Promise<void> {
  const expected = ch.token.length > 0 && ch.keyAuthorization.startsWith(`${ch.token}.`);
  if (!expected) throw acmeProblem('malformed', 'the key authorization does not belong to the challenge token');
  switch (ch.type) {
    case 'http-01':
      return validateHttp01(ch, settings);
    case 'tls-alpn-01':
      return validateTlsAlpn01(ch, settings);
    case 'dns-01':
      return validateDns01(ch, settings);
    default:
      throw acmeProblem('malformed', `unsupported challenge type ${String((ch as { type: unknown }).type)}`);
  }
}

// ---- where a validation may connect ---------------------------------------------------------

/** A CIDR matcher over node's BlockList; throws Error naming the bad entry. */
export function networkMatcher(cidrs: readonly string[]): (address: string) => boolean {
  const block = new BlockList();
  for (const entry of cidrs) {
    const [addr, bits, ...extra] = entry.trim().split('/');
    const family = isIP(addr);
    // Number('') is 0: "10.0.0.0/" must not become /0 and allow every address.
    const prefix = bits !== undefined && /^\d{1,3}$/.test(bits) && extra.length === 0 ? Number(bits) : Number.NaN;
    if (!family || (bits !== undefined && !(prefix <= (family === 6 ? 128 : 32))))
      throw new Error(`ANVIL_ACME_ALLOWED_NETWORKS: "${entry}" is not an IP address or CIDR block`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) block.addAddress(addr, type);
    else block.addSubnet(addr, prefix, type);
  }
  return (address) => {
    const a = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
    const family = isIP(a);
    return family !== 0 && block.check(a, family === 6 ? 'ipv6' : 'ipv4');
  };
}

const matchers = new WeakMap<readonly string[], (address: string) => boolean>();
const allowedBy = (settings: ValidationSettings) => {
  let m = matchers.get(settings.allowedNetworks);
  if (!m) matchers.set(settings.allowedNetworks, (m = networkMatcher(settings.allowedNetworks)));
  return m;
};

function resolver(settings: ValidationSettings): Resolver {
  const r = new Resolver({ timeout: settings.timeoutMs, tries: 1 });
  if (settings.dnsResolver) r.setServers([settings.dnsResolver]);
  return r;
}

async function addressesOf(name: string, settings: ValidationSettings): Promise<string[]> {
  const mapped = settings.hosts.get(name.toLowerCase());
  if (mapped) return [mapped];
  try {
    if (!settings.dnsResolver) return (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);
    const r = resolver(settings);
    const [v4, v6] = await Promise.allSettled([r.resolve4(name), r.resolve6(name)]);
    const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (found.length === 0) throw (v4.status === 'rejected' ? v4.reason : null) ?? new Error('no address');
    return found;
  } catch (e) {
    throw acmeProblem('dns', `${name} did not resolve to an address (${dnsCode(e)})`);
  }
}

/** The address to connect to for an identifier: the first resolved one inside the allowed networks. */
async function targetAddress(ch: ChallengeToValidate, settings: ValidationSettings): Promise<string> {
  const { type, value } = ch.identifier;
  const candidates = type === 'ip' ? [value] : await addressesOf(value, settings);
  const allowed = allowedBy(settings);
  const address = candidates.find(allowed);
  if (!address)
    throw acmeProblem(
      'rejectedIdentifier',
      `${value} resolves to ${candidates.join(', ')}, outside the networks this CA validates (ANVIL_ACME_ALLOWED_NETWORKS)`,
    );
  return address;
}

const dnsCode = (e: unknown) => (e && typeof e === 'object' && 'code' in e ? String(e.code) : 'error');

// ---- http-01 --------------------------------------------------------------------------------

async function validateHttp01(ch: ChallengeToValidate, settings: ValidationSettings): Promise<void> {
  if (!/^[A-Za-z0-9_-]+$/.test(ch.token)) throw acmeProblem('malformed', 'the challenge token is not base64url');
  const address = await targetAddress(ch, settings);
  const hostHeader = hostForHeader(ch.identifier, settings.httpPort);
  const where = `http://${hostHeader}/.well-known/acme-challenge/${ch.token}`;
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        host: address,
        port: settings.httpPort,
        path: `/.well-known/acme-challenge/${ch.token}`,
        headers: { host: hostHeader, 'user-agent': 'Anvil-ACME-validator', accept: '*/*' },
        timeout: settings.timeoutMs,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          const moved = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
          return reject(acmeProblem('incorrectResponse', `${where} answered HTTP ${status}${moved}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > HTTP01_MAX_BODY) {
            req.destroy();
            return reject(acmeProblem('incorrectResponse', `${where} answered more than ${HTTP01_MAX_BODY} bytes`));
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', (e) => reject(connectionProblem(where, e)));
      },
    );
    const late = () => req.destroy(acmeProblem('connection', `${where} did not answer within ${settings.timeoutMs} ms`));
    req.on('timeout', late);
    // The socket timeout is an idle timeout: a server dripping a byte at a time needs a deadline too.
    const deadline = setTimeout(late, settings.timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', (e) => reject(e instanceof AcmeProblem ? e : connectionProblem(where, e)));
    req.end();
  });
  // RFC 8555 8.3: the server may ignore trailing whitespace.
  if (body.trimEnd() !== ch.keyAuthorization)
    throw acmeProblem('incorrectResponse', `${where} answered a body (${body.length} bytes) that is not the key authorization`);
}

/** Host header value: IPv6 literals in brackets, the port only when it is not 80. */
function hostForHeader(identifier: ChallengeToValidate['identifier'], port: number): string {
  const host = isIP(identifier.value) === 6 ? `[${identifier.value}]` : identifier.value;
  return port === 80 ? host : `${host}:${port}`;
}

function connectionProblem(where: string, e: unknown): AcmeProblem {
  return acmeProblem('connection', `could not fetch ${where} (${dnsCode(e)})`);
}

// ---- tls-alpn-01 ----------------------------------------------------------------------------

const ALPN = 'acme-tls/1';

/** RFC 8738 6: the SNI of an ip identifier is its reverse-DNS name. */
export function reverseName(ip: string): string {
  if (isIP(ip) === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const groups = ip.split('::');
  const head = groups[0] ? groups[0].split(':') : [];
  const tail = groups.length > 1 && groups[1] ? groups[1].split(':') : [];
  const full = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  const nibbles = full.map((g) => g.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}

async function validateTlsAlpn01(ch: ChallengeToValidate, settings: ValidationSettings): Promise<void> {
  const address = await targetAddress(ch, settings);
  const { type, value } = ch.identifier;
  const servername = type === 'ip' ? reverseName(value) : value;
  const where = `${value} (${address} port ${settings.tlsPort})`;
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const socket = tlsConnect({
      host: address,
      port: settings.tlsPort,
      servername,
      ALPNProtocols: [ALPN],
      // The challenge certificate is self-signed by design (RFC 8737 3); what matters is its content.
      rejectUnauthorized: false,
      timeout: settings.timeoutMs,
    });
    socket.once('secureConnect', () => {
      const alpn = socket.alpnProtocol;
      const cert = socket.getPeerCertificate(false);
      socket.destroy();
      if (alpn !== ALPN) return reject(acmeProblem('tls', `${where} did not negotiate ALPN ${ALPN}`));
      if (!cert?.raw) return reject(acmeProblem('tls', `${where} presented no certificate`));
      resolve(cert.raw);
    });
    const late = () => {
      socket.destroy();
      reject(acmeProblem('connection', `${where} did not complete a TLS handshake within ${settings.timeoutMs} ms`));
    };
    socket.once('timeout', late);
    // An idle timeout alone lets a server drip the handshake out forever.
    const deadline = setTimeout(late, settings.timeoutMs);
    socket.once('close', () => clearTimeout(deadline));
    socket.once('error', (e: NodeJS.ErrnoException) => {
      const tlsFailure = !e.code || /^ERR_SSL|^ERR_TLS|EPROTO/.test(e.code);
      reject(
        acmeProblem(
          tlsFailure ? 'tls' : 'connection',
          `${where}: ${tlsFailure ? 'TLS handshake failed' : 'could not connect'} (${dnsCode(e)})`,
        ),
      );
    });
  });
  checkAcmeTlsCertificate(raw, ch);
}

/** RFC 8737 3: exactly one SAN, the identifier; a critical acmeIdentifier holding SHA-256(keyAuthorization). */
export function checkAcmeTlsCertificate(der: Uint8Array, ch: ChallengeToValidate): void {
  let cert: ReturnType<typeof readCertificate>;
  try {
    cert = readCertificate({ der });
  } catch {
    throw acmeProblem('tls', 'the tls-alpn-01 certificate is not a DER X.509 certificate');
  }
  let sans: ReturnType<typeof certificateSans>;
  try {
    sans = certificateSans(cert);
  } catch {
    throw acmeProblem('tls', 'the tls-alpn-01 certificate has an unreadable subjectAltName');
  }
  const all = [...sans.dns, ...sans.ip, ...sans.uri, ...sans.email];
  const { type, value } = ch.identifier;
  const list = type === 'ip' ? sans.ip : sans.dns;
  const matches = list.length === 1 && list[0].toLowerCase() === value.toLowerCase();
  if (!matches || all.length !== 1)
    throw acmeProblem('incorrectResponse', `the tls-alpn-01 certificate must name exactly ${value} (found ${all.join(', ') || 'no SAN'})`);
  const ext = cert.extensions.filter((e) => e.oid === ACME_IDENTIFIER_OID);
  if (ext.length !== 1 || !ext[0].critical)
    throw acmeProblem('incorrectResponse', 'the tls-alpn-01 certificate has no single critical acmeIdentifier extension');
  const v = ext[0].value;
  const inner = Buffer.from(v.buf.subarray(v.contentStart, v.end));
  const want = Buffer.concat([Buffer.from([0x04, 0x20]), sha256(ch.keyAuthorization)]);
  if (!inner.equals(want))
    throw acmeProblem('incorrectResponse', 'the acmeIdentifier extension does not hold SHA-256 of the key authorization');
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

// ---- dns-01 ---------------------------------------------------------------------------------

/** base64url(SHA-256(keyAuthorization)): the TXT value of dns-01 (RFC 8555 8.4). */
export function dns01TxtValue(keyAuthorization: string): string {
  return sha256(keyAuthorization).toString('base64url');
}

async function validateDns01(ch: ChallengeToValidate, settings: ValidationSettings): Promise<void> {
  if (ch.identifier.type !== 'dns') throw acmeProblem('unsupportedIdentifier', 'dns-01 validates dns identifiers only (RFC 8738 7)');
  const name = `_acme-challenge.${ch.identifier.value.replace(/^\*\./, '')}`;
  let records: string[][];
  try {
    records = await resolver(settings).resolveTxt(name);
  } catch (e) {
    const code = dnsCode(e);
    if (code === 'ENODATA') throw acmeProblem('incorrectResponse', `no TXT record at ${name}`);
    throw acmeProblem('dns', `the TXT lookup of ${name} failed (${code})`);
  }
  const want = dns01TxtValue(ch.keyAuthorization);
  // A TXT record may be split into several strings; the value is their concatenation.
  if (!records.some((chunks) => chunks.join('') === want))
    throw acmeProblem('incorrectResponse', `none of the ${records.length} TXT record(s) at ${name} holds the expected value`);
}

// ---- settings from the environment --------------------------------------------------------

const port = (name: string, raw: string | undefined, fallback: number): number => {
  if (raw === undefined || raw === '') return fallback;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : 0;
  if (n < 1 || n > 65535) throw new Error(`${name}: "${raw}" is not a port number (1-65535)`);
  return n;
};

function parseHosts(raw: string | undefined): Map<string, string> {
  const hosts = new Map<string, string>();
  for (const entry of (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, addr, ...extra] = entry.split('=').map((s) => s.trim());
    if (!name || !addr || extra.length || !isIP(addr)) throw new Error(`ANVIL_ACME_HOSTS: "${entry}" is not name=address`);
    hosts.set(name.toLowerCase(), addr);
  }
  return hosts;
}

function parseResolver(raw: string | undefined): string | null {
  if (!raw) return null;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw) ?? /^([^:]+)(?::(\d+))?$/.exec(raw);
  if (!m || !isIP(m[1])) throw new Error(`ANVIL_ACME_DNS_RESOLVER: "${raw}" is not an IP address with an optional :port`);
  const p = port('ANVIL_ACME_DNS_RESOLVER', m[2], 53);
  return isIP(m[1]) === 6 ? `[${m[1]}]:${p}` : `${m[1]}:${p}`;
}

/**
 * ANVIL_ACME_HTTP_PORT (80), ANVIL_ACME_TLS_PORT (443), ANVIL_ACME_HOSTS (`name=addr,…`),
 * ANVIL_ACME_ALLOWED_NETWORKS (CIDRs, default DEFAULT_ALLOWED_NETWORKS, `none` for no network),
 * ANVIL_ACME_DNS_RESOLVER (`host:port`, default the system's), ANVIL_ACME_VALIDATION_TIMEOUT_MS (10000).
 * Throws Error with a plain message naming the variable.
 */
export function parseValidationSettings(env: Record<string, string | undefined>): ValidationSettings {
  const networks = env.ANVIL_ACME_ALLOWED_NETWORKS?.trim();
  const allowedNetworks =
    networks === undefined || networks === ''
      ? [...DEFAULT_ALLOWED_NETWORKS]
      : networks.toLowerCase() === 'none'
        ? []
        : networks
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
  networkMatcher(allowedNetworks); // fails fast on a bad entry
  const timeoutRaw = env.ANVIL_ACME_VALIDATION_TIMEOUT_MS;
  const timeoutMs = timeoutRaw ? Number(timeoutRaw) : DEFAULT_VALIDATION_TIMEOUT_MS;
  if (!/^\d+$/.test(timeoutRaw ?? '0') || timeoutMs < 100 || timeoutMs > 120_000)
    throw new Error(`ANVIL_ACME_VALIDATION_TIMEOUT_MS: "${timeoutRaw}" is not a number of milliseconds (100-120000)`);
  return {
    httpPort: port('ANVIL_ACME_HTTP_PORT', env.ANVIL_ACME_HTTP_PORT, 80),
    tlsPort: port('ANVIL_ACME_TLS_PORT', env.ANVIL_ACME_TLS_PORT, 443),
    hosts: parseHosts(env.ANVIL_ACME_HOSTS),
    allowedNetworks,
    dnsResolver: parseResolver(env.ANVIL_ACME_DNS_RESOLVER),
    timeoutMs,
  };
}
