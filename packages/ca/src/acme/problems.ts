/**
 * ACME problem documents (RFC 8555 section 6.7): the one error type of the ACME server. Its
 * `type` is the `urn:ietf:params:acme:error:*` name clients match on; the route layer writes it as
 * application/problem+json with `status`. A CaError raised by the authority underneath (a refused
 * name, a rate limit) is translated by `fromCaError`, so an ACME client never sees a bare code.
 */
import type { CaError } from '../errors.ts';

export type AcmeErrorType =
  | 'accountDoesNotExist'
  | 'alreadyRevoked'
  | 'badCSR'
  | 'badNonce'
  | 'badPublicKey'
  | 'badRevocationReason'
  | 'badSignatureAlgorithm'
  | 'caa'
  | 'compound'
  | 'connection'
  | 'dns'
  | 'externalAccountRequired'
  | 'incorrectResponse'
  | 'invalidContact'
  | 'malformed'
  | 'orderNotReady'
  | 'rateLimited'
  | 'rejectedIdentifier'
  | 'serverInternal'
  | 'tls'
  | 'unauthorized'
  | 'unsupportedContact'
  | 'unsupportedIdentifier'
  | 'userActionRequired';

/** The HTTP status of each type, unless the thrower names another (a missing resource is 404 `malformed`). */
const STATUS: Record<AcmeErrorType, number> = {
  accountDoesNotExist: 400,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  compound: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 403,
  incorrectResponse: 403,
  invalidContact: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
};

export interface AcmeSubproblem {
  type: AcmeErrorType;
  detail: string;
  identifier?: { type: string; value: string };
}

export class AcmeProblem extends Error {
  readonly status: number;
  constructor(
    readonly type: AcmeErrorType,
    readonly detail: string,
    options: { status?: number; subproblems?: AcmeSubproblem[]; retryAfterSeconds?: number; code?: string } = {},
  ) {
    super(detail);
    this.status = options.status ?? STATUS[type];
    this.subproblems = options.subproblems;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.code = options.code;
  }
  readonly subproblems?: AcmeSubproblem[];
  /** Sent as Retry-After (rateLimited). */
  readonly retryAfterSeconds?: number;
  /** Anvil's own stable code when the problem comes from the authority (e.g. `token_san_not_allowed`). */
  readonly code?: string;

  /** The problem document (RFC 7807 members plus RFC 8555's subproblems). */
  toJSON() {
    return {
      type: `urn:ietf:params:acme:error:${this.type}`,
      detail: this.detail,
      status: this.status,
      ...(this.code ? { code: this.code } : {}),
      ...(this.subproblems ? { subproblems: this.subproblems.map((s) => ({ ...s, type: `urn:ietf:params:acme:error:${s.type}` })) } : {}),
    };
  }
}

export const acmeProblem = (type: AcmeErrorType, detail: string, options?: ConstructorParameters<typeof AcmeProblem>[2]) =>
  new AcmeProblem(type, detail, options);

/** An authority refusal in ACME terms: names and policy are `rejectedIdentifier`, keys `badPublicKey`, CSRs `badCSR`. */
export function fromCaError(err: CaError): AcmeProblem {
  const code = err.code;
  const options = { code, retryAfterSeconds: err.kind === 'rate_limited' ? Number(err.details?.retryAfter) || 60 : undefined };
  if (err.kind === 'rate_limited') return new AcmeProblem('rateLimited', err.message, options);
  if (err.kind === 'unavailable') return new AcmeProblem('serverInternal', err.message, { ...options, status: 503 });
  if (/key|rsa|algorithm/.test(code)) return new AcmeProblem('badPublicKey', err.message, options);
  if (/csr/.test(code)) return new AcmeProblem('badCSR', err.message, options);
  if (err.kind === 'forbidden' || err.kind === 'unauthorized') return new AcmeProblem('unauthorized', err.message, options);
  if (err.kind === 'not_found') return new AcmeProblem('malformed', err.message, { ...options, status: 404 });
  return new AcmeProblem('rejectedIdentifier', err.message, options);
}
