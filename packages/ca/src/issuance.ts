/** Issuing end-entity certificates: issue, renew, Idempotency-Key replays, and the OCSP responder certificates. */
import { createHash } from 'node:crypto';
import {
  checkNameConstraints,
  CsrError,
  describeViolation,
  emptySans,
  fingerprintSha256,
  generateKey,
  KeyError,
  keyIdentifier,
  parseAndVerifyCsr,
  parsePemBlocks,
  pemToDerList,
  PemError,
  publicKeyFacts,
  readCertificate,
  readNameRecordDer,
  serialToHex,
  SoftwareSigner,
  subjectToString,
  truncateToSeconds,
  type CertificateParams,
  type KeyAlgorithm,
  type Sans,
  type SubjectInput,
} from '@anvil/pki';
import { audit, SYSTEM_ACTOR, type Actor } from './audit.ts';
import { CaError, conflict, invalid } from './errors.ts';
import type { IssuerRegistry } from './issuer-registry.ts';
import { issuerUrls, type LoadedIssuer } from './issuers.ts';
import type { ProfileCatalog } from './profile-catalog.ts';
import { checkKey, checkNames, checkSubject, kindExtensions, parseTtl } from './profiles.ts';
import { rateLimited } from './rate-limit.ts';
import type { ResponderCredentials } from './revocation/ocsp-responder.ts';
import type { SerialReservations } from './serials.ts';
import { BACKDATE_MS, recordSigned, signLinted } from './signing.ts';
import { invitationActor, invitationRefusal } from './invitations.ts';
import type { CertificateRecord, InvitationRecord, Store } from './store.ts';
import { applyTokenSubject, checkTokenProfile, checkTokenSans, type LimitsHolder, type TokenLimits } from './token-limits.ts';

export interface IssueRequest {
  profile: string;
  csr?: string;
  keyAlgorithm?: KeyAlgorithm;
  subject?: SubjectInput;
  sans?: Partial<Sans>;
  ttl?: string | number;
  issuer?: string;
  idempotencyKey?: string;
  /** The limits of the requesting token (token-limits.ts), passed by the API route; never part of the idempotency hash. */
  tokenLimits?: TokenLimits | null;
  /** Whose limits `tokenLimits` are (default the token's): the refusal codes name it. */
  limitsHolder?: LimitsHolder;
  /**
   * The requesting token's issuance rate limit per minute (rate-limit.ts `effectiveRateLimit`),
   * passed by the API route and counted against the actor's token; null or absent: unlimited.
   * Never part of the idempotency hash.
   */
  rateLimit?: number | null;
}

export interface IssuedCertificate {
  record: CertificateRecord;
  issuer: LoadedIssuer;
  /** PKCS#8 DER of a key Anvil generated; present only in the response that issued it. */
  privateKeyPkcs8?: Uint8Array;
  /** True when an Idempotency-Key replay returned an earlier issuance. */
  replayed: boolean;
}

/**
 * Refuses names outside the issuer's name constraints (and those of the CAs above it), before
 * anything is signed: `openssl verify` would refuse the certificate for them anyway.
 */
export function checkIssuerNameConstraints(issuer: LoadedIssuer, sans: Sans, commonName: string | undefined): void {
  for (const ca of [issuer, ...issuer.parents]) {
    const nc = ca.record.nameConstraints;
    const violation = nc ? checkNameConstraints(nc, { sans, commonName }) : null;
    if (violation) {
      throw invalid('name_constraint_violation', describeViolation(violation, ca.record.name), {
        name: violation.name,
        nameType: violation.type,
        subtree: violation.subtree,
        constraints: violation.constraints,
        issuer: ca.record.name,
      });
    }
  }
}

/** The subject attributes a renewal carries over. */
const SUBJECT_KEYS = ['CN', 'O', 'OU', 'L', 'ST', 'C'] as const;

/** Why a certificate may not be renewed, named as the judge names it; null when it may. */
function renewalRefusal(record: CertificateRecord, now: Date): CaError | null {
  const refuse = (reason: string, message: string) => new CaError('forbidden', 'certificate_not_accepted', message, { reason });
  if (record.status === 'revoked') {
    return record.revocationReason === 'certificateHold'
      ? refuse('revoked', 'the certificate is on hold (certificateHold): it cannot be renewed until it is released')
      : refuse(
          'revoked',
          `the certificate is revoked (${record.revocationReason ?? 'unspecified'}): it cannot be renewed; request a new one`,
        );
  }
  if (record.notAfter.getTime() <= now.getTime())
    return refuse('expired', 'the certificate has expired: it cannot be renewed; request a new one');
  if (record.supersededBy) return refuse('superseded', `the certificate was renewed already (by ${record.supersededBy}): renew that one`);
  return null;
}

/** How a signed certificate is recorded: renewing one, using up an invitation, on behalf of an owner. */
interface RecordOptions {
  /** The certificate this one renews (marked superseded in the same statement). */
  supersedes?: string;
  /** The invitation this certificate uses up (in the same statement). */
  invitation?: string;
  /** requested_by of the new certificate when it is not the actor (a renewal keeps its owner). */
  owner?: string | null;
}

export class Issuance {
  constructor(
    private readonly deps: {
      store: Store;
      issuers: Pick<IssuerRegistry, 'issuerByName' | 'issuerById' | 'defaultIssuer'>;
      profiles: Pick<ProfileCatalog, 'profile' | 'issuanceProfile'>;
      serials: SerialReservations;
      /** Base of the CRL, AIA and OCSP URLs written into certificates. */
      publicUrl: string;
      organization: string;
      now: () => Date;
    },
  ) {}

  /**
   * Issues a certificate. A refusal (bad input, policy, unknown profile or issuer) is written to
   * the audit trail as a failed `certificate.issue` with its code: an auditor sees who asked for
   * what they may not have.
   */
  async issue(req: IssueRequest, actor: Actor): Promise<IssuedCertificate> {
    return this.issueAudited(req, actor);
  }

  /**
   * Renews a certificate this Anvil issued, for a holder who has just proved possession of it
   * (the mTLS handshake from `source`), with a CSR for the new key: same profile, issuer, subject and names,
   * same lifetime (capped by the profile). Decided on the database row, never on a cache: a
   * revoked, held, expired or already renewed certificate is refused with the judge's reason,
   * and a revocation or renewal that commits while this one signs wins over it.
   */
  async renew(params: {
    issuerId: string;
    serialHex: string;
    /** The new key's CSR; or, with `keyAlgorithm` instead, a key generated here (EST serverkeygen), returned once and never stored. */
    csr?: string;
    keyAlgorithm?: KeyAlgorithm;
    /** Refuse (403 profile_mismatch) unless the certificate is of this profile (EST's /{profile}/ path). */
    profile?: string;
    source: string | null;
  }): Promise<IssuedCertificate & { renewedFrom: string }> {
    const record = await this.deps.store.getCertificateBySerial(params.issuerId, params.serialHex);
    if (!record) throw new CaError('forbidden', 'not_issued_by_anvil', 'only certificates this Anvil issued can be renewed here');
    if (params.profile !== undefined && record.profile !== params.profile) {
      throw new CaError(
        'forbidden',
        'profile_mismatch',
        `the presented certificate is of profile "${record.profile}", not "${params.profile}"`,
      );
    }
    if (!params.csr && !params.keyAlgorithm) throw invalid('csr_required', 'send a certificate request for the new key');
    // The holder acts, authenticated by the certificate itself.
    const actor: Actor = { id: `certificate:${record.id}`, name: `mTLS renewal by ${record.serial}`, source: params.source };
    const refusal = renewalRefusal(record, this.deps.now());
    if (refusal) throw refusal;
    const profile = await this.deps.profiles.profile(record.profile);
    const names = readNameRecordDer(record.der, readCertificate({ der: record.der }).subject);
    const subject: SubjectInput = {};
    for (const k of SUBJECT_KEYS) if (names[k]) subject[k] = names[k];
    const lifetime = Math.round((record.notAfter.getTime() - record.notBefore.getTime()) / 1000) - BACKDATE_MS / 1000;
    const ttl = Math.max(60, Math.min(lifetime, profile.policy.maxTtl));
    const request: IssueRequest = {
      profile: record.profile,
      csr: params.csr,
      keyAlgorithm: params.keyAlgorithm,
      subject,
      sans: record.sans,
      issuer: this.deps.issuers.issuerById(record.issuerId).record.name,
      ttl,
      ...(await this.ownerLimits(record)),
    };
    // The renewed certificate stays its owner's: a partner token still lists it, and still limits it.
    const issued = await this.issueAudited(request, actor, { supersedes: record.id, owner: record.requestedBy });
    return { ...issued, renewedFrom: record.id };
  }

  /**
   * The limits a renewal stays under: those of the token or invitation that asked for the
   * certificate. A certificate whose token was revoked is not renewed on that token's authority.
   */
  private async ownerLimits(record: CertificateRecord): Promise<Pick<IssueRequest, 'tokenLimits' | 'limitsHolder'>> {
    const owner = record.requestedBy ?? '';
    if (owner.startsWith('invitation:')) {
      const invitation = await this.deps.store.getInvitation(owner.slice('invitation:'.length));
      return { tokenLimits: invitation?.limits ?? null, limitsHolder: 'invitation' };
    }
    const token = /^[0-9a-f-]{36}$/i.test(owner) ? await this.deps.store.getToken(owner) : null;
    if (!token) return {};
    if (token.revokedAt) {
      throw new CaError(
        'forbidden',
        'token_revoked',
        'the API token this certificate was issued with is revoked: request a new certificate',
        {
          reason: 'token_revoked',
        },
      );
    }
    return { tokenLimits: token.limits, limitsHolder: 'token' };
  }

  /**
   * Issues the one certificate of an invitation, to whoever holds its secret: the invitation's
   * profile, fixed subject, names and lifetime; the CSR's names only within its patterns. The
   * invitation is used up in the statement that records the certificate, so two concurrent uses
   * issue one certificate (the other is refused as used).
   */
  async enroll(
    invitation: InvitationRecord,
    key: { csr?: string; keyAlgorithm?: KeyAlgorithm; commonName?: string },
    source: string | null,
  ): Promise<IssuedCertificate> {
    const actor = invitationActor(invitation, source);
    const refusal = invitationRefusal(invitation, this.deps.now());
    if (refusal) {
      await this.auditRefusal({ profile: invitation.profile }, actor, refusal);
      throw refusal;
    }
    const fixed = invitation.limits.subject;
    // A fixed CN replaces the CSR's; otherwise the CSR's CN is kept, within the patterns. A key
    // made here has no CSR: the partner's commonName, else the invitation's first DNS name or email.
    const sans = invitation.sans;
    const cn = fixed?.CN ?? (key.csr ? undefined : (key.commonName ?? sans?.dns[0] ?? sans?.email[0]));
    const request: IssueRequest = {
      profile: invitation.profile,
      csr: key.csr,
      keyAlgorithm: key.keyAlgorithm,
      subject: cn ? { ...fixed, CN: cn } : undefined,
      sans: invitation.sans ?? undefined,
      ttl: invitation.ttlSeconds ?? undefined,
      tokenLimits: invitation.limits,
      limitsHolder: 'invitation',
    };
    return this.issueAudited(request, actor, { invitation: invitation.id });
  }

  private async issueAudited(req: IssueRequest, actor: Actor, options: RecordOptions = {}): Promise<IssuedCertificate> {
    try {
      return await this.issueChecked(req, actor, options);
    } catch (err) {
      if (err instanceof CaError && err.kind !== 'unavailable') await this.auditRefusal(req, actor, err);
      throw err;
    }
  }

  /** A refused issuance as a failed `certificate.issue` with its code (best effort: the refusal is what the caller must see). */
  private async auditRefusal(req: Pick<IssueRequest, 'profile' | 'issuer'>, actor: Actor, err: CaError): Promise<void> {
    await this.deps.store
      .appendAudit({
        ...audit(actor),
        action: 'certificate.issue',
        target: null,
        outcome: 'failure',
        details: { code: err.code, profile: req.profile, issuer: req.issuer, reason: err.message },
      })
      .catch(() => {});
  }

  private async issueChecked(req: IssueRequest, actor: Actor, options: RecordOptions): Promise<IssuedCertificate> {
    const { issuers, store } = this.deps;
    const { supersedes, invitation } = options;
    checkTokenProfile(req.tokenLimits, req.profile, req.limitsHolder);
    const profile = await this.deps.profiles.issuanceProfile(req.profile);
    const issuerName = req.issuer ?? profile.policy.issuer;
    if (req.issuer && profile.policy.issuer && req.issuer !== profile.policy.issuer) {
      throw invalid('issuer_not_allowed', `profile "${profile.name}" issues only from "${profile.policy.issuer}"`);
    }
    const issuer = issuerName ? issuers.issuerByName(issuerName) : issuers.defaultIssuer();
    if (issuer.record.kind !== 'intermediate') {
      throw invalid('issuer_not_allowed', 'end-entity certificates are issued by an intermediate, not a root');
    }
    if (issuer.record.status === 'retired') {
      throw conflict(
        'issuer_retired',
        `issuer "${issuer.record.name}" is retired (rotated out): it publishes CRLs and OCSP answers for what it issued, and issues nothing more`,
      );
    }
    if (issuer.record.status !== 'active') {
      throw invalid('issuer_revoked', `issuer "${issuer.record.name}" is revoked and issues nothing more`);
    }

    const requestHash = req.idempotencyKey ? hashRequest(req) : '';
    if (req.idempotencyKey) {
      const replay = await this.replay(actor, req.idempotencyKey, requestHash);
      if (replay) return replay;
    }
    // After the replay (a retried request is answered, not counted) and before any key work.
    if (req.rateLimit) {
      const slot = await store.takeIssuanceSlot(actor.id, req.rateLimit, this.deps.now());
      if (!slot.allowed) throw rateLimited(req.rateLimit, slot.retryAfterSeconds);
    }

    // The key: the CSR's, after its proof-of-possession verifies, or one generated here.
    let spki: Uint8Array;
    let publicKey: Parameters<typeof publicKeyFacts>[0];
    let csrNames: { cn?: string; sans: Sans } = { sans: emptySans() };
    let privateKeyPkcs8: Uint8Array | undefined;
    if (req.csr) {
      if (req.keyAlgorithm) throw invalid('csr_and_key_algorithm', 'send either a csr or a keyAlgorithm, not both');
      const csr = parseCsrText(req.csr);
      spki = csr.publicKeySpki;
      publicKey = csr.publicKey;
      csrNames = { cn: csr.subject.CN, sans: csr.requestedSans };
    } else {
      const generated = await generateKey(req.keyAlgorithm ?? 'EC-P256');
      spki = generated.spkiDer;
      publicKey = generated.publicKey;
      privateKeyPkcs8 = generated.pkcs8Der;
    }
    const keyFacts = wrapKeyError(() => publicKeyFacts(publicKey));
    checkKey(profile, keyFacts);

    // Names: the request's, else the CSR's; either way only what the profile allows.
    const requestedSans = req.sans ? { ...emptySans(), ...req.sans } : csrNames.sans;
    const sans = checkNames(profile, requestedSans);
    const asked = req.subject ? { ...req.subject } : csrNames.cn ? { CN: csrNames.cn } : {};
    checkTokenSans(req.tokenLimits, sans, asked.CN, req.limitsHolder);
    const subject = checkSubject(profile.kind, applyTokenSubject(req.tokenLimits, asked, req.limitsHolder), sans);
    checkIssuerNameConstraints(issuer, sans, subject.CN);

    const ttl = req.ttl === undefined ? profile.policy.defaultTtl : parseTtl(req.ttl);
    if (ttl > profile.policy.maxTtl) {
      throw invalid('ttl_too_long', `ttl ${ttl}s exceeds the maximum of ${profile.policy.maxTtl}s for profile "${profile.name}"`);
    }
    const now = this.deps.now();
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    let notAfter = new Date(now.getTime() + ttl * 1000);
    if (notAfter > issuer.record.notAfter) notAfter = issuer.record.notAfter;

    const serial = (await this.deps.serials.take(issuer.record.id)).bytes;
    const der = await signLinted(
      {
        serial,
        subject,
        issuerName: issuer.certificate.subject,
        issuerKeyId: keyIdentifier(issuer.signer.publicKeySpki),
        subjectPublicKeySpki: spki,
        notBefore,
        notAfter,
        ...kindExtensions(profile.kind, keyFacts.family),
        sans,
        ...issuerUrls(this.deps.publicUrl, issuer.record.name),
      },
      issuer.signer,
      profile.kind,
      issuer.record.notAfter,
    );

    const subjectText = subjectToString(subject);
    const record = await recordSigned(store, { serialHex: serialToHex(serial), issuer, actor }, () =>
      store.insertIssuedCertificate(
        {
          issuerId: issuer.record.id,
          serial: serialToHex(serial),
          profile: profile.name,
          subject: subjectText,
          commonName: subject.CN ?? null,
          sans,
          keyAlgorithm: keyFacts.algorithm ?? `${keyFacts.family}-${keyFacts.curve ?? keyFacts.bits}`,
          // What the certificate says: whole seconds.
          notBefore: truncateToSeconds(notBefore),
          notAfter: truncateToSeconds(notAfter),
          der,
          fingerprintSha256: fingerprintSha256(der),
          requestedBy: options.owner !== undefined ? options.owner : actor.id,
        },
        {
          ...audit(actor),
          action: 'certificate.issue',
          outcome: 'success',
          details: { serial: serialToHex(serial), profile: profile.name, issuer: issuer.record.name, subject: subjectText },
        },
        {
          idempotency: req.idempotencyKey ? { tokenId: actor.id, key: req.idempotencyKey, requestHash } : undefined,
          supersedes,
          invitation: invitation ? { id: invitation, at: now } : undefined,
        },
      ),
    );
    if (!record && invitation) {
      // Used, withdrawn or expired while this one signed: nothing is written (the serial stays reserved, the refusal is audited).
      const current = await store.getInvitation(invitation);
      throw (
        (current && invitationRefusal(current, this.deps.now())) ??
        new CaError('gone', 'invitation_used', 'the invitation was used while this certificate was being issued')
      );
    }
    if (!record && supersedes) {
      // Revoked or renewed while this renewal signed: no row is written (the serial stays reserved, the refusal is audited).
      const current = await store.getCertificate(supersedes);
      throw (
        (current && renewalRefusal(current, this.deps.now())) ??
        new CaError('forbidden', 'certificate_not_accepted', 'the certificate changed while it was being renewed')
      );
    }
    if (!record) {
      // Another request with the same Idempotency-Key committed first: ours wrote nothing; return theirs.
      const winner = await this.replay(actor, req.idempotencyKey!, requestHash);
      if (!winner) throw new Error('an Idempotency-Key race left no certificate behind');
      return winner;
    }
    return { record, issuer, privateKeyPkcs8, replayed: false };
  }

  private async replay(actor: Actor, key: string, requestHash: string): Promise<IssuedCertificate | null> {
    const previous = await this.deps.store.getIdempotency(actor.id, key);
    if (!previous) return null;
    if (previous.requestHash !== requestHash) {
      throw conflict('idempotency_key_reused', 'this Idempotency-Key was used with a different request body');
    }
    const record = await this.deps.store.getCertificate(previous.certificateId);
    if (!record) throw new Error('idempotency row points at a missing certificate');
    return { record, issuer: this.deps.issuers.issuerById(record.issuerId), replayed: true };
  }

  /**
   * A delegated OCSP responder certificate for `issuer` (the OCSP signer row of PROFILE_KINDS),
   * short-lived. Its key lives only in this process's memory; the certificate is recorded.
   */
  async issueOcspResponder(issuer: LoadedIssuer, ttlMs: number): Promise<ResponderCredentials> {
    const key = await generateKey('EC-P256');
    const now = this.deps.now();
    const serial = (await this.deps.serials.take(issuer.record.id)).bytes;
    let notAfter = new Date(now.getTime() + ttlMs);
    if (notAfter > issuer.record.notAfter) notAfter = issuer.record.notAfter;
    const subject = checkSubject('ocsp', { CN: `Anvil OCSP Responder (${issuer.record.name})`, O: this.deps.organization }, emptySans());
    const tbs: CertificateParams = {
      serial,
      subject,
      issuerName: issuer.certificate.subject,
      issuerKeyId: keyIdentifier(issuer.signer.publicKeySpki),
      subjectPublicKeySpki: key.spkiDer,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      ...kindExtensions('ocsp', 'EC'),
    };
    const der = await signLinted(tbs, issuer.signer, 'ocsp', issuer.record.notAfter);
    const store = this.deps.store;
    await recordSigned(store, { serialHex: serialToHex(serial), issuer, actor: SYSTEM_ACTOR }, () =>
      store.insertIssuedCertificate(
        {
          issuerId: issuer.record.id,
          serial: serialToHex(serial),
          profile: 'ocsp-responder',
          subject: subjectToString(subject),
          commonName: subject.CN ?? null,
          sans: emptySans(),
          keyAlgorithm: 'EC-P256',
          notBefore: truncateToSeconds(tbs.notBefore),
          notAfter: truncateToSeconds(tbs.notAfter),
          der,
          fingerprintSha256: fingerprintSha256(der),
          requestedBy: SYSTEM_ACTOR.id,
        },
        {
          ...audit(SYSTEM_ACTOR),
          action: 'certificate.issue',
          outcome: 'success',
          details: { serial: serialToHex(serial), profile: 'ocsp-responder', issuer: issuer.record.name },
        },
      ),
    );
    return {
      certificateDer: der,
      signer: new SoftwareSigner('EC-P256', key.pkcs8Der),
      notAfter: truncateToSeconds(tbs.notAfter),
      keyPkcs8: key.pkcs8Der,
    };
  }
}

const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

/**
 * The `csr` field: exactly one PEM CSR (explanatory text before it is allowed, as RFC 7468
 * allows it; nothing after it), or bare base64 DER. Anything else is refused rather than
 * guessed at: two CSRs are not "the first one".
 */
function parseCsrText(text: string) {
  let der: Uint8Array;
  try {
    if (text.includes('-----BEGIN')) {
      const blocks = parsePemBlocks(text);
      if (blocks.length > 1)
        throw invalid('invalid_csr', `the csr field holds ${blocks.length} PEM blocks; send exactly one certificate request`);
      der = pemToDerList(text, CSR_LABELS)[0];
      const tail = text.slice(text.lastIndexOf('-----END') + '-----END'.length).replace(/^[A-Z0-9 ]*-----/, '');
      if (tail.trim() !== '')
        throw invalid('invalid_csr', 'the csr field has text after the end of the PEM block; send exactly one certificate request');
    } else {
      const body = text.replace(/\s/g, '');
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw invalid('invalid_csr', 'the csr field is neither PEM nor base64 DER');
      der = new Uint8Array(Buffer.from(body, 'base64'));
    }
  } catch (err) {
    if (err instanceof PemError) throw invalid('malformed_csr', err.message);
    throw err;
  }
  try {
    return parseAndVerifyCsr(der);
  } catch (err) {
    if (err instanceof CsrError) throw invalid(err.code, err.message);
    throw err;
  }
}

function wrapKeyError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof KeyError) throw invalid(err.code, err.message);
    throw err;
  }
}

function hashRequest(req: IssueRequest): string {
  const { idempotencyKey: _key, tokenLimits: _limits, limitsHolder: _holder, rateLimit: _rate, ...rest } = req;
  return createHash('sha256').update(stableStringify(rest)).digest('hex');
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
