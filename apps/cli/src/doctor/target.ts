/** The doctor's target: an https URL read into host, port, SNI name and request path, refused in one line when it is not one. */
import { isIP } from 'node:net';
import { CliError } from '../errors.ts';

export interface Target {
  url: string;
  host: string;
  port: number;
  /** Sent as SNI; never an IP address (RFC 6066 forbids it, and servers pick their certificate by it). */
  servername?: string;
  /** Path and query of the HTTP request sent after the handshake. */
  path: string;
}

export function parseTarget(text: string): Target {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`not a URL: ${JSON.stringify(text)} (expected e.g. https://api.example.com:8443/)`);
  }
  if (url.protocol !== 'https:') throw new CliError(`the doctor checks TLS servers: use an https:// URL, not ${url.protocol}//`);
  if (!url.hostname) throw new CliError(`no host in ${JSON.stringify(text)}`);
  // URL keeps the brackets of an IPv6 literal; sockets want it bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    url: url.href,
    host,
    port: url.port ? Number(url.port) : 443,
    servername: isIP(host) ? undefined : host,
    path: `${url.pathname || '/'}${url.search}`,
  };
}
