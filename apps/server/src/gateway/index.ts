/** The gateway configuration generators by kind, and the input they take, built from the authority's view of an issuer. */
import type { Authority, LoadedIssuer } from '@anvil/ca';
import { caddy } from './caddy.ts';
import { envoy } from './envoy.ts';
import { haproxy } from './haproxy.ts';
import { kong } from './kong.ts';
import { nginx } from './nginx.ts';
import { traefik } from './traefik.ts';
import type { GatewayConfig, GatewayGenerator, GatewayInput } from './types.ts';

export type { GatewayConfig, GatewayFile, GatewayInput } from './types.ts';

export const GATEWAYS: Record<string, GatewayGenerator> = { nginx, haproxy, envoy, kong, caddy, traefik };
export const GATEWAY_KINDS = Object.keys(GATEWAYS);

/** Directories that may appear in a generated file: absolute, and nothing a shell or config parser treats specially. */
export const GATEWAY_DIR = /^\/[A-Za-z0-9._/-]{0,200}$/;

export const defaultGatewayDir = (issuer: string) => `/etc/anvil/${issuer}`;

export function isGatewayKind(kind: string): boolean {
  return Object.hasOwn(GATEWAYS, kind);
}

/** From the issuer up to and including its root. */
export function pathToRoot(authority: Authority, issuer: LoadedIssuer): LoadedIssuer[] {
  const out = [issuer];
  for (let i = issuer; i.record.parentId && out.length < 16; ) {
    i = authority.issuerById(i.record.parentId);
    out.push(i);
  }
  return out;
}

export function gatewayInput(authority: Authority, issuer: LoadedIssuer, dir = defaultGatewayDir(issuer.record.name)): GatewayInput {
  const path = pathToRoot(authority, issuer);
  return {
    issuer: issuer.record.name,
    path: path.map((i) => ({ name: i.record.name, subject: i.record.subject })),
    rootPem: path[path.length - 1]!.pem,
    pkiUrl: authority.pkiUrl(),
    dir: dir.replace(/\/+$/, '') || '/',
  };
}

/** The configuration of `kind` (checked with isGatewayKind first). */
export function gatewayConfig(kind: string, input: GatewayInput): GatewayConfig {
  return GATEWAYS[kind]!(input);
}
