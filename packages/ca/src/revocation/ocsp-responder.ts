/** OCSP answers from the database, signed by a delegated responder or the CA key itself, cached until a revocation. */
import { createHash } from 'node:crypto';
import {
  buildOcspResponse,
  issuerHashes,
  keyIdentifier,
  ocspErrorResponse,
  OcspRequestError,
  parseOcspRequest,
  type CertId,
  type OcspCertStatus,
  type OcspRequest,
  type Signer,
  truncateToSeconds,
} from '@anvil/pki';
import type { LoadedIssuer } from '../issuers.ts';
import type { Store } from '../store.ts';
import { REVOCATION_CACHE_MAX_MS, type RevocationNotices } from './notices.ts';

/** A delegated responder: a short-lived OCSPSigning certificate per issuer, its key in memory only. */
export interface ResponderCredentials {
  certificateDer: Uint8Array;
  signer: Signer;
  notAfter: Date;
  /** The signer's PKCS#8, kept only to hand the credentials to a worker process (main.ts); never stored. */
  keyPkcs8?: Uint8Array;
}

/** Who signs an issuer's OCSP answers (ANVIL_OCSP_SIGNER). */
export const OCSP_SIGNER_CHOICES = ['auto', 'issuer', 'delegated'] as const;
export type OcspSignerChoice = (typeof OCSP_SIGNER_CHOICES)[number];

/** Whether an issuer signs its own answers under `choice`: `auto` means when its key is on a token. */
export function signsOwnAnswers(choice: OcspSignerChoice): (issuer: LoadedIssuer) => boolean {
  if (choice === 'auto') return (issuer) => issuer.record.keyRef !== null;
  return () => choice === 'issuer';
}

export interface OcspAnswer {
  der: Uint8Array;
  /** For metrics: the per-certificate statuses, or the error status. */
  statuses: string[];
}

interface IssuerKey {
  issuer: LoadedIssuer;
  hashes: Record<string, { name: string; key: string }>;
}

interface CachedAnswer {
  answer: OcspAnswer;
  issuerId: string;
  until: number;
}

const ANSWER_VALIDITY_MS = 3600_000;
const MAX_CERT_IDS = 50;
const MAX_CACHE = 100_000;

/**
 * RFC 6960 responder. Answers without a nonce are cached by request bytes, for at most
 * REVOCATION_CACHE_MAX_MS and only while revocation notices are delivered; a revocation drops
 * the issuer's cached answers before the revoke call returns (and, through the notices, in
 * every other process sharing the database; a dropped subscription drops them all).
 */
export class OcspResponder {
  private readonly ready = new Map<string, ResponderCredentials>();
  private readonly pending = new Map<string, Promise<ResponderCredentials>>();
  private readonly cache = new Map<string, CachedAnswer>();
  /** Nonce-less answers being built, by request: later identical requests wait for them. */
  private readonly building = new Map<string, { answer: Promise<OcspAnswer>; generation: number }>();
  /** Per issuer, bumped by every invalidation: an answer built across one is not cached. */
  private readonly generation = new Map<string, number>();
  private issuerKeys: IssuerKey[] = [];

  constructor(
    private readonly deps: {
      store: Store;
      notices: RevocationNotices;
      now: () => Date;
      issuers: () => LoadedIssuer[];
      issueResponder: (issuer: LoadedIssuer) => Promise<ResponderCredentials>;
      /** Renew the responder certificate when less than this remains. */
      renewBeforeMs?: number;
      /** Whether an issuer still answers for its certificates (false: `unauthorized`); default: always. */
      publishes?: (issuer: LoadedIssuer) => boolean;
      /** Issuers whose own key signs their answers (RFC 6960 2.2 case 1: no responder certificate sent). */
      signsOwnAnswers?: (issuer: LoadedIssuer) => boolean;
    },
  ) {
    deps.notices.subscribe((issuerId) => (issuerId === null ? this.invalidateAll() : this.invalidate(issuerId)));
  }

  /** Recomputes the CertID hashes of every issuer (after an issuer is created). */
  indexIssuers(): void {
    this.issuerKeys = this.deps.issuers().map((issuer) => {
      const nameDer = new Uint8Array(issuer.certificate.subject.toSchema().toBER(false));
      const hashes: IssuerKey['hashes'] = {};
      for (const alg of ['sha1', 'sha256'] as const) {
        const h = issuerHashes(nameDer, issuer.signer.publicKeySpki, alg);
        hashes[alg] = { name: hex(h.nameHash), key: hex(h.keyHash) };
      }
      return { issuer, hashes };
    });
  }

  invalidate(issuerId: string): void {
    this.generation.set(issuerId, (this.generation.get(issuerId) ?? 0) + 1);
    for (const [key, entry] of this.cache) if (entry.issuerId === issuerId) this.cache.delete(key);
  }

  /** Notices may have been lost: nothing cached can be trusted. */
  private invalidateAll(): void {
    for (const issuer of this.deps.issuers()) this.generation.set(issuer.record.id, (this.generation.get(issuer.record.id) ?? 0) + 1);
    this.cache.clear();
  }

  async respond(requestDer: Uint8Array): Promise<OcspAnswer> {
    const cacheKey = cacheKeyOf(requestDer);
    const hit = this.deps.notices.live ? this.cache.get(cacheKey) : undefined;
    if (hit && hit.until > Date.now()) return hit.answer;

    let request;
    try {
      request = parseOcspRequest(requestDer);
    } catch (err) {
      if (err instanceof OcspRequestError) return errorAnswer('malformedRequest');
      throw err;
    }
    if (request.certIds.length > MAX_CERT_IDS) return errorAnswer('malformedRequest');
    if (this.issuerKeys.length !== this.deps.issuers().length) this.indexIssuers();

    // One response has one signer, so every CertID must name the same issuer.
    const owners = request.certIds.map((id) => this.issuerOf(id));
    const issuer = owners[0];
    if (!issuer || owners.some((o) => o !== issuer) || this.deps.publishes?.(issuer) === false) return errorAnswer('unauthorized');

    // Read before any status: if a revocation commits while this answer is built, the
    // invalidation that follows it bumps the generation and the answer is not cached.
    const generation = this.generation.get(issuer.record.id) ?? 0;
    if (request.nonce) return this.build(request, issuer, generation, cacheKey);
    // Concurrent identical nonce-less requests share one build (one database read, one signature),
    // but only one that began after the last revocation seen for this issuer (and while notices arrive).
    const building = this.building.get(cacheKey);
    if (building && building.generation === generation && this.deps.notices.live) return building.answer;
    const answer = this.build(request, issuer, generation, cacheKey);
    this.building.set(cacheKey, { answer, generation });
    const done = () => {
      if (this.building.get(cacheKey)?.answer === answer) this.building.delete(cacheKey);
    };
    answer.then(done, done);
    return answer;
  }

  /** Signs the answer to `request` from the database's statuses; caches it when nonce-less and nothing was revoked meanwhile. */
  private async build(request: OcspRequest, issuer: LoadedIssuer, generation: number, cacheKey: string): Promise<OcspAnswer> {
    const credentials = this.deps.signsOwnAnswers?.(issuer) ? null : await this.responderFor(issuer);
    const signer = credentials?.signer ?? issuer.signer;
    const now = this.deps.now();
    const thisUpdate = truncateToSeconds(now);
    const responses = [];
    const statuses: string[] = [];
    for (const certId of request.certIds) {
      const found = await this.deps.store.serialStatus(issuer.record.id, certId.serialHex);
      const status: OcspCertStatus = !found ? 'unknown' : found.status === 'revoked' ? 'revoked' : 'good';
      statuses.push(status);
      responses.push({
        certIdRaw: certId.raw,
        status,
        ...(status === 'revoked' ? { revokedAt: found!.revokedAt!, reason: found!.reason ?? 'unspecified' } : {}),
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + ANSWER_VALIDITY_MS),
      });
    }
    const der = await buildOcspResponse({
      signer,
      responderCertDer: credentials?.certificateDer,
      responderKeyHash: keyIdentifier(signer.publicKeySpki),
      producedAt: thisUpdate,
      responses,
      nonce: request.nonce,
    });
    const answer = { der, statuses };
    if (!request.nonce && this.deps.notices.live && (this.generation.get(issuer.record.id) ?? 0) === generation) {
      if (this.cache.size >= MAX_CACHE) this.cache.clear();
      this.cache.set(cacheKey, { answer, issuerId: issuer.record.id, until: Date.now() + REVOCATION_CACHE_MAX_MS });
    }
    return answer;
  }

  private issuerOf(certId: CertId): LoadedIssuer | undefined {
    const nameHash = hex(certId.issuerNameHash);
    const keyHash = hex(certId.issuerKeyHash);
    return this.issuerKeys.find((k) => k.hashes[certId.hashAlgorithm]?.name === nameHash && k.hashes[certId.hashAlgorithm]?.key === keyHash)
      ?.issuer;
  }

  /** The issuer's responder credentials, issued on first use and renewed before they expire. */
  private async responderFor(issuer: LoadedIssuer): Promise<ResponderCredentials> {
    const id = issuer.record.id;
    const now = this.deps.now().getTime();
    const current = this.ready.get(id);
    if (current && current.notAfter.getTime() - now > (this.deps.renewBeforeMs ?? 24 * 3600_000)) return current;
    let renewal = this.pending.get(id);
    if (!renewal) {
      renewal = this.deps
        .issueResponder(issuer)
        .then((c) => {
          this.ready.set(id, c);
          return c;
        })
        .finally(() => this.pending.delete(id));
      this.pending.set(id, renewal);
    }
    // While a renewal runs, the still-valid credentials keep answering.
    if (current && current.notAfter.getTime() > now) return current;
    return renewal;
  }
}

function errorAnswer(status: 'malformedRequest' | 'unauthorized' | 'internalError'): OcspAnswer {
  return { der: ocspErrorResponse(status), statuses: [status] };
}

/** Requests of one or a few CertIDs are their own key (cheaper than hashing them); large ones are keyed by SHA-256. */
const LITERAL_KEY_MAX = 512;

function cacheKeyOf(requestDer: Uint8Array): string {
  const bytes = Buffer.from(requestDer.buffer, requestDer.byteOffset, requestDer.byteLength);
  // The prefixes keep the two kinds of key apart.
  return bytes.length <= LITERAL_KEY_MAX ? `=${bytes.toString('latin1')}` : `#${createHash('sha256').update(bytes).digest('base64')}`;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
