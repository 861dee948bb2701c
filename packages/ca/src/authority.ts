import { createHash, randomBytes } from 'node:crypto';
import {
  buildName,
  CsrError,
  emptySans,
  encodeTbsCertificate,
  fingerprintSha256,
  generateKey,
  KeyError,
  keyIdentifier,
  lintTbs,
  nameToString,
  parseAndVerifyCsr,
  parseCertificate,
  parsePemBlocks,
  pemToDerList,
  PemError,
  publicKeyFacts,
  readName,
  sanCount,
  serialFromRandom,
  serialToHex,
  signTbs,
  SoftwareSigner,
  subjectToString,
  toPem,
  truncateToSeconds,
  type CertificateParams,
  type CertificateRole,
  type KeyAlgorithm,
  type Sans,
  type SubjectInput,
} from '@anvil/pki';
import { CaError, conflict, invalid, notFound } from './errors.ts';
import { chainOf, issuerUrls, loadIssuer, type LoadedIssuer } from './issuers.ts';
import type { KeyCustody } from './key-custody.ts';
import {
  BUILTIN_PROFILES,
  checkKey,
  checkNames,
  checkSubjectText,
  checkPolicy,
  parseTtl,
  PROFILE_KINDS,
  type Profile,
  type ProfileKind,
  type ProfilePolicy,
} from './profiles.ts';
import { CrlPublisher, DEFAULT_CRL_POLICY, type CrlPolicy } from './revocation/crl-publisher.ts';
import { OcspResponder, type ResponderCredentials } from './revocation/ocsp-responder.ts';
import { RevocationNotices } from './revocation/notices.ts';
import { Revocations } from './revocation/revocations.ts';
import { SerialReservations } from './serials.ts';
import type { CertificateQuery, CertificateRecord, IssuerRecord, Store, StoreTx } from './store.ts';
import { ADMIN_SCOPES, generateToken, hashToken } from './tokens.ts';

export interface AuthorityConfig {
  /** Base of the CRL, AIA and OCSP URLs written into certificates. */
  publicUrl: string;
  /** Key algorithm of the CAs created at bootstrap. */
  caKeyAlgorithm: KeyAlgorithm;
  organization: string;
  crl?: Partial<CrlPolicy>;
  /** Lifetime of the delegated OCSP responder certificates (default 48 h, renewed with 24 h left). */
  ocspResponderTtlMs?: number;
}

/** Who acts: written into the audit trail. */
export interface Actor {
  id: string;
  name: string;
  source: string | null;
}

export const SYSTEM_ACTOR: Actor = { id: 'system', name: 'system', source: null };

export interface IssueRequest {
  profile: string;
  csr?: string;
  keyAlgorithm?: KeyAlgorithm;
  subject?: SubjectInput;
  sans?: Partial<Sans>;
  ttl?: string | number;
  issuer?: string;
  idempotencyKey?: string;
}

export interface IssuedCertificate {
  record: CertificateRecord;
  issuer: LoadedIssuer;
  /** PKCS#8 DER of a key Anvil generated; present only in the response that issued it. */
  privateKeyPkcs8?: Uint8Array;
  /** True when an Idempotency-Key replay returned an earlier issuance. */
  replayed: boolean;
}

const ROOT_NAME = 'root-ca';
const ISSUING_NAME = 'issuing-ca';
const YEAR = 365 * 86_400_000;
const BACKDATE_MS = 60_000;
/** The subject attributes a renewal carries over. */
const SUBJECT_KEYS = ['CN', 'O', 'OU', 'L', 'ST', 'C'] as const;

/** Why a certificate may not be renewed, named as the judge names it; null when it may. */
function renewalRefusal(record: CertificateRecord, now: Date): CaError | null {
  const refuse = (reason: string, message: string) => new CaError('forbidden', 'certificate_not_accepted', message, { reason });
  if (record.status === 'revoked') {
    return record.revocationReason === 'certificateHold'
      ? refuse('revoked', 'the certificate is on hold (certificateHold): it cannot be renewed until it is released')
      : refuse('revoked', `the certificate is revoked (${record.revocationReason ?? 'unspecified'}): it cannot be renewed; request a new one`);
  }
  if (record.notAfter.getTime() <= now.getTime()) return refuse('expired', 'the certificate has expired: it cannot be renewed; request a new one');
  if (record.supersededBy) return refuse('superseded', `the certificate was renewed already (by ${record.supersededBy}): renew that one`);
  return null;
}
const PROFILE_CACHE_MS = 1_000;
/** What a profile may be called (the API schema says the same): it appears in URLs. */
const PROFILE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

export class Authority {
  private readonly issuersByName = new Map<string, LoadedIssuer>();
  private readonly issuersById = new Map<string, LoadedIssuer>();
  private readonly now: () => Date;
  /**
   * Profiles as issuance reads them, for PROFILE_CACHE_MS: the lookup was one of five database
   * round trips per certificate. A change saved here applies at once; one saved by another
   * process sharing the database applies within PROFILE_CACHE_MS (as tokens do within 5 s).
   */
  private readonly profileCache = new Map<string, { profile: Profile; until: number }>();
  private profileGeneration = 0;
  readonly crls: CrlPublisher;
  readonly ocsp: OcspResponder;
  readonly revocations: Revocations;
  /** Every revocation of every process sharing the database; what revocation-dependent caches listen to. */
  readonly revocationNotices: RevocationNotices;
  private readonly serials: SerialReservations;

  constructor(
    private readonly deps: {
      store: Store;
      custody: KeyCustody;
      config: AuthorityConfig;
      now?: () => Date;
    },
  ) {
    this.now = deps.now ?? (() => new Date());
    this.crls = new CrlPublisher(deps.store, this.now, { ...DEFAULT_CRL_POLICY, ...deps.config.crl });
    const responderTtl = deps.config.ocspResponderTtlMs ?? 48 * 3600_000;
    this.revocationNotices = new RevocationNotices(deps.store);
    this.serials = new SerialReservations(deps.store);
    this.ocsp = new OcspResponder({
      store: deps.store,
      notices: this.revocationNotices,
      now: this.now,
      issuers: () => this.issuers(),
      issueResponder: (issuer) => this.issueOcspResponder(issuer, responderTtl),
      renewBeforeMs: responderTtl / 2,
    });
    this.revocations = new Revocations({
      store: deps.store,
      now: this.now,
      issuerById: (id) => this.issuerById(id),
      issuerByName: (name) => this.issuerByName(name),
      afterChange: async (issuerIds) => {
        // Caches go first, all of them, so a failed CRL signature cannot leave one stale. Other
        // processes learn of it through the store's notification.
        for (const id of issuerIds) this.revocationNotices.revokedHere(id);
        const failed: string[] = [];
        let cause: unknown;
        for (const id of issuerIds) {
          await this.crls.publish(this.issuerById(id)).catch((err) => {
            failed.push(this.issuerById(id).record.name);
            cause = err;
          });
        }
        if (failed.length) {
          throw Object.assign(new CaError(
            'unavailable',
            'crl_publish_failed',
            `the revocation is committed and OCSP shows it, but re-signing the CRL of ${failed.join(', ')} failed; the next CRL request retries it`,
          ), { cause });
        }
      },
    });
  }

  /**
   * Background duties of a running server: keep CRLs fresh, and hear of revocations committed by
   * other processes sharing the database (the caches drop what they concern).
   */
  async start(onError: (err: unknown) => void): Promise<void> {
    await this.revocationNotices.start();
    this.crls.start(() => this.issuers(), onError);
  }

  stop(): void {
    this.crls.stop();
  }

  get store(): Store {
    return this.deps.store;
  }

  // ---- bootstrap ---------------------------------------------------------------------------

  /**
   * First start: built-in profiles, a root and one issuing intermediate, and the admin token.
   * Later starts reuse them. Returns the admin token only when it was generated here.
   */
  async bootstrap(options: { adminToken?: string } = {}): Promise<{ createdCa: boolean; generatedAdminToken?: string }> {
    const result = await this.deps.store.withStartupLock(async () => {
      let createdCa = false;
      let generatedAdminToken: string | undefined;
      await this.deps.store.transaction(async (tx) => {
        for (const p of BUILTIN_PROFILES) {
          if (!(await tx.getProfile(p.name))) await tx.upsertProfile(p);
        }
        if (options.adminToken) {
          const hash = hashToken(options.adminToken);
          if (!(await tx.findTokenByHash(hash))) {
            await tx.insertToken({ name: 'admin', tokenHash: hash, scopes: ADMIN_SCOPES });
            await tx.appendAudit({ ...audit(SYSTEM_ACTOR), action: 'token.create', target: 'admin', outcome: 'success' });
          }
        } else if (!(await tx.getSetting('admin_token_created'))) {
          generatedAdminToken = generateToken();
          await tx.insertToken({ name: 'admin', tokenHash: hashToken(generatedAdminToken), scopes: ADMIN_SCOPES });
          await tx.appendAudit({ ...audit(SYSTEM_ACTOR), action: 'token.create', target: 'admin', outcome: 'success' });
        }
        await tx.putSetting('admin_token_created', true);
      });
      await this.loadIssuers();
      if (this.issuersByName.size === 0) {
        const alg = this.deps.config.caKeyAlgorithm;
        await this.createIssuer({ name: ROOT_NAME, kind: 'root', keyAlgorithm: alg }, SYSTEM_ACTOR);
        await this.createIssuer({ name: ISSUING_NAME, kind: 'intermediate', keyAlgorithm: alg, parent: ROOT_NAME }, SYSTEM_ACTOR);
        createdCa = true;
      }
      return { createdCa, generatedAdminToken };
    });
    return result;
  }

  /** (Re)reads issuers from the store; parents before children. */
  async loadIssuers(): Promise<void> {
    const records = await this.deps.store.listIssuers();
    const pending = [...records];
    while (pending.length) {
      const before = pending.length;
      for (let i = 0; i < pending.length; i++) {
        const r = pending[i];
        const parent = r.parentId ? this.issuersById.get(r.parentId) : null;
        if (r.parentId && !parent) continue;
        if (!this.issuersById.has(r.id)) this.remember(loadIssuer(r, this.deps.custody.signer(r), parent ?? null));
        pending.splice(i--, 1);
      }
      if (pending.length === before) throw new Error('issuer rows reference missing parents');
    }
  }

  private remember(issuer: LoadedIssuer) {
    this.issuersByName.set(issuer.record.name, issuer);
    this.issuersById.set(issuer.record.id, issuer);
  }

  // ---- issuers -----------------------------------------------------------------------------

  issuers(): LoadedIssuer[] {
    return [...this.issuersById.values()];
  }

  issuerByName(name: string): LoadedIssuer {
    const issuer = this.issuersByName.get(name);
    if (!issuer) throw notFound('unknown_issuer', `no issuer named "${name}"`);
    return issuer;
  }

  issuerById(id: string): LoadedIssuer {
    const issuer = this.issuersById.get(id);
    if (!issuer) throw notFound('unknown_issuer', `no issuer with id ${id}`);
    return issuer;
  }

  roots(): LoadedIssuer[] {
    return this.issuers().filter((i) => i.record.kind === 'root');
  }

  defaultIssuer(): LoadedIssuer {
    return this.issuersByName.get(ISSUING_NAME) ?? this.issuers().find((i) => i.record.kind === 'intermediate') ?? this.issuerByName(ISSUING_NAME);
  }

  chain(issuer: LoadedIssuer): LoadedIssuer[] {
    return chainOf(issuer);
  }

  /** Creates a root (self-signed) or an intermediate under `parent`, pathLen 0 for intermediates. */
  async createIssuer(
    params: { name: string; kind: 'root' | 'intermediate'; keyAlgorithm: KeyAlgorithm; parent?: string; commonName?: string; ttlDays?: number },
    actor: Actor,
  ): Promise<LoadedIssuer> {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(params.name)) {
      throw invalid('invalid_issuer_name', 'issuer names are lower-case letters, digits and hyphens (they appear in URLs)');
    }
    if (this.issuersByName.has(params.name)) throw conflict('issuer_exists', `an issuer named "${params.name}" exists`);
    const parent = params.kind === 'intermediate' ? this.issuerByName(params.parent ?? ROOT_NAME) : null;
    if (parent && parent.record.kind !== 'root') {
      throw invalid('invalid_parent', 'intermediates are created under a root (they carry pathLen 0)');
    }
    const now = this.now();
    const key = await generateKey(params.keyAlgorithm);
    const subject: SubjectInput = {
      CN: params.commonName ?? (params.kind === 'root' ? `Anvil Root CA (${params.name})` : `Anvil Issuing CA (${params.name})`),
      O: this.deps.config.organization,
    };
    const lifetime = (params.ttlDays ?? (params.kind === 'root' ? 3650 : 1825)) * 86_400_000;
    let notAfter = new Date(now.getTime() + lifetime);
    if (parent && notAfter > parent.record.notAfter) notAfter = parent.record.notAfter;
    const selfKeyId = keyIdentifier(key.spkiDer);
    const custody = this.deps.custody.wrap(params.name, key.pkcs8Der);
    const signer = parent ? parent.signer : this.deps.custody.signer({ name: params.name, keyAlgorithm: params.keyAlgorithm, ...custody });
    // An intermediate's serial is on record under its parent before the parent signs it.
    const serial = parent ? (await this.serials.take(parent.record.id)).bytes : serialFromRandom(randomBytes(16));
    const tbs: CertificateParams = {
      serial,
      subject,
      issuerName: parent ? parent.certificate.subject : buildName(subject),
      issuerKeyId: parent ? keyIdentifier(parent.signer.publicKeySpki) : selfKeyId,
      subjectPublicKeySpki: key.spkiDer,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      keyUsage: ['keyCertSign', 'cRLSign'],
      basicConstraints: params.kind === 'root' ? { ca: true } : { ca: true, pathLen: 0 },
      // Java's PKIX revocation checking asks for the intermediate's status too: give it a CDP and AIA.
      ...(parent ? issuerUrls(this.deps.config.publicUrl, parent.record.name) : {}),
    };
    const der = await this.signLinted(tbs, signer, params.kind, parent ? parent.record.notAfter : notAfter);
    const insert = () => this.deps.store.transaction(async (tx) => {
      const row = await tx.insertIssuer({
        name: params.name,
        kind: params.kind,
        parentId: parent?.record.id ?? null,
        subject: nameToString(buildName(subject)),
        keyAlgorithm: params.keyAlgorithm,
        encryptedKey: custody.encryptedKey,
        keyRef: custody.keyRef,
        certificateDer: der,
        serial: serialToHex(serial),
        subjectKeyId: Buffer.from(selfKeyId).toString('hex'),
        notBefore: new Date(now.getTime() - BACKDATE_MS),
        notAfter,
      });
      await tx.appendAudit({ ...audit(actor), action: 'issuer.create', target: params.name, outcome: 'success', details: { kind: params.kind, keyAlgorithm: params.keyAlgorithm } });
      return row;
    });
    const record = await (parent ? this.recordSigned(serialToHex(serial), parent, actor, insert) : insert());
    const loaded = loadIssuer(record, this.deps.custody.signer(record), parent);
    this.remember(loaded);
    return loaded;
  }

  // ---- profiles ----------------------------------------------------------------------------

  async profile(name: string, tx: StoreTx = this.deps.store): Promise<Profile> {
    // Only names a profile can have reach the database (a NUL would make it fail, not miss).
    const row = PROFILE_NAME.test(name) ? await tx.getProfile(name) : null;
    if (!row) throw notFound('unknown_profile', `no profile named "${name}"`);
    return row as Profile;
  }

  async listProfiles(): Promise<Profile[]> {
    return (await this.deps.store.listProfiles()) as Profile[];
  }

  /** The profile for an issuance: from the short-lived cache, else the store. Unknown names are not cached. */
  private async issuanceProfile(name: string): Promise<Profile> {
    const hit = this.profileCache.get(name);
    const started = Date.now();
    if (hit && hit.until > started) return hit.profile;
    const generation = this.profileGeneration;
    const profile = await this.profile(name);
    // A save that raced this read must not be shadowed by the older row.
    if (generation === this.profileGeneration) {
      if (this.profileCache.size >= 1000) this.profileCache.clear();
      this.profileCache.set(name, { profile, until: started + PROFILE_CACHE_MS });
    }
    return profile;
  }

  async saveProfile(params: { name: string; kind: ProfileKind; policy: ProfilePolicy }, mode: 'create' | 'update', actor: Actor): Promise<Profile> {
    checkPolicy(params.policy);
    if (params.policy.issuer) this.issuerByName(params.policy.issuer);
    try {
      return await this.saveProfileRow(params, mode, actor);
    } finally {
      this.profileGeneration++;
      this.profileCache.delete(params.name);
    }
  }

  private saveProfileRow(params: { name: string; kind: ProfileKind; policy: ProfilePolicy }, mode: 'create' | 'update', actor: Actor): Promise<Profile> {
    return this.deps.store.transaction(async (tx) => {
      const existing = await tx.getProfile(params.name);
      if (mode === 'create' && existing) throw conflict('profile_exists', `a profile named "${params.name}" exists`);
      if (mode === 'update' && !existing) throw notFound('unknown_profile', `no profile named "${params.name}"`);
      if (existing && existing.kind !== params.kind) {
        throw invalid('profile_kind_change', 'a profile keeps its kind; create a new profile instead');
      }
      const profile: Profile = { name: params.name, kind: params.kind, builtin: existing?.builtin ?? false, policy: params.policy };
      await tx.upsertProfile(profile);
      await tx.appendAudit({ ...audit(actor), action: `profile.${mode}`, target: params.name, outcome: 'success', details: { policy: params.policy } });
      return profile;
    });
  }

  // ---- issuance ----------------------------------------------------------------------------

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
  async renew(params: { issuerId: string; serialHex: string; csr: string; source: string | null }): Promise<IssuedCertificate & { renewedFrom: string }> {
    const record = await this.deps.store.getCertificateBySerial(params.issuerId, params.serialHex);
    if (!record) throw new CaError('forbidden', 'not_issued_by_anvil', 'only certificates this Anvil issued can be renewed here');
    // The holder acts, authenticated by the certificate itself.
    const actor: Actor = { id: `certificate:${record.id}`, name: `mTLS renewal by ${record.serial}`, source: params.source };
    const refusal = renewalRefusal(record, this.now());
    if (refusal) throw refusal;
    const profile = await this.profile(record.profile);
    const names = readName(parseCertificate(record.der).subject);
    const subject: SubjectInput = {};
    for (const k of SUBJECT_KEYS) if (names[k]) subject[k] = names[k];
    const lifetime = Math.round((record.notAfter.getTime() - record.notBefore.getTime()) / 1000) - BACKDATE_MS / 1000;
    const ttl = Math.max(60, Math.min(lifetime, profile.policy.maxTtl));
    const request = { profile: record.profile, csr: params.csr, subject, sans: record.sans, issuer: this.issuerById(record.issuerId).record.name, ttl };
    const issued = await this.issueAudited(request, actor, record.id);
    return { ...issued, renewedFrom: record.id };
  }

  private async issueAudited(req: IssueRequest, actor: Actor, supersedes?: string): Promise<IssuedCertificate> {
    try {
      return await this.issueChecked(req, actor, supersedes);
    } catch (err) {
      if (err instanceof CaError && err.kind !== 'unavailable') {
        await this.deps.store
          .appendAudit({
            ...audit(actor),
            action: 'certificate.issue',
            target: null,
            outcome: 'failure',
            details: { code: err.code, profile: req.profile, issuer: req.issuer, reason: err.message },
          })
          .catch(() => {}); // the refusal itself is what the caller must see
      }
      throw err;
    }
  }

  private async issueChecked(req: IssueRequest, actor: Actor, supersedes?: string): Promise<IssuedCertificate> {
    const profile = await this.issuanceProfile(req.profile);
    const issuerName = req.issuer ?? profile.policy.issuer;
    if (req.issuer && profile.policy.issuer && req.issuer !== profile.policy.issuer) {
      throw invalid('issuer_not_allowed', `profile "${profile.name}" issues only from "${profile.policy.issuer}"`);
    }
    const issuer = issuerName ? this.issuerByName(issuerName) : this.defaultIssuer();
    if (issuer.record.kind !== 'intermediate') {
      throw invalid('issuer_not_allowed', 'end-entity certificates are issued by an intermediate, not a root');
    }
    if (issuer.record.status !== 'active') {
      throw invalid('issuer_revoked', `issuer "${issuer.record.name}" is revoked and issues nothing more`);
    }

    const requestHash = req.idempotencyKey ? hashRequest(req) : '';
    if (req.idempotencyKey) {
      const replay = await this.replay(actor, req.idempotencyKey, requestHash);
      if (replay) return replay;
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
    const kind = PROFILE_KINDS[profile.kind];
    const subject: SubjectInput = req.subject ? { ...req.subject } : csrNames.cn ? { CN: csrNames.cn } : {};
    checkSubjectText(subject);
    if (sanCount(sans) === 0) throw invalid('san_required', `a ${profile.kind} certificate needs at least one subject alternative name`);
    if (kind.cnRequired && !subject.CN) throw invalid('cn_required', 'a client certificate needs a CN (gateways map consumers by CN)');
    if (subject.CN !== undefined && subject.CN.length > 64) throw invalid('invalid_subject', 'the CN is longer than 64 characters');
    if (kind.cnMustBeSan && subject.CN && !sans.dns.includes(subject.CN.toLowerCase()) && !sans.ip.includes(subject.CN)) {
      throw invalid('cn_not_in_sans', `the CN "${subject.CN}" must be one of the subject alternative names`);
    }
    if (kind.cnMustBeSan && subject.CN) subject.CN = subject.CN.toLowerCase();

    const ttl = req.ttl === undefined ? profile.policy.defaultTtl : parseTtl(req.ttl);
    if (ttl > profile.policy.maxTtl) {
      throw invalid('ttl_too_long', `ttl ${ttl}s exceeds the maximum of ${profile.policy.maxTtl}s for profile "${profile.name}"`);
    }
    const now = this.now();
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    let notAfter = new Date(now.getTime() + ttl * 1000);
    if (notAfter > issuer.record.notAfter) notAfter = issuer.record.notAfter;

    const serial = (await this.serials.take(issuer.record.id)).bytes;
    const der = await this.signLinted(
      {
        serial,
        subject,
        issuerName: issuer.certificate.subject,
        issuerKeyId: keyIdentifier(issuer.signer.publicKeySpki),
        subjectPublicKeySpki: spki,
        notBefore,
        notAfter,
        keyUsage: [...kind.keyUsage, ...(keyFacts.family === 'RSA' ? kind.rsaKeyUsage : [])],
        extKeyUsage: kind.extKeyUsage,
        basicConstraints: { ca: false },
        sans,
        ...issuerUrls(this.deps.config.publicUrl, issuer.record.name),
      },
      issuer.signer,
      profile.kind,
      issuer.record.notAfter,
    );

    const subjectText = subjectToString(subject);
    const record = await this.recordSigned(serialToHex(serial), issuer, actor, () => this.deps.store.insertIssuedCertificate(
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
        requestedBy: actor.id,
      },
      {
        ...audit(actor),
        action: 'certificate.issue',
        outcome: 'success',
        details: { serial: serialToHex(serial), profile: profile.name, issuer: issuer.record.name, subject: subjectText },
      },
      { idempotency: req.idempotencyKey ? { tokenId: actor.id, key: req.idempotencyKey, requestHash } : undefined, supersedes },
    ));
    if (!record && supersedes) {
      // Revoked or renewed while this renewal signed: the serial stays reserved, nothing else is written.
      const current = await this.deps.store.getCertificate(supersedes);
      throw (current && renewalRefusal(current, this.now())) ?? new CaError('forbidden', 'certificate_not_accepted', 'the certificate changed while it was being renewed');
    }
    if (!record) {
      // Another request with the same Idempotency-Key committed first: ours wrote nothing; return theirs.
      const winner = await this.replay(actor, req.idempotencyKey!, requestHash);
      if (!winner) throw new Error('an Idempotency-Key race left no certificate behind');
      return winner;
    }
    return { record, issuer, privateKeyPkcs8, replayed: false };
  }

  /**
   * Writes the row of a certificate that is already signed. Its serial is on record already
   * (reserved before signing); when the write fails, the serial and why are written to the audit
   * trail too, as far as the database lets us, and the failure goes on to the caller.
   */
  private async recordSigned<T>(serialHex: string, issuer: LoadedIssuer, actor: Actor, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      const reason = (err as { code?: string }).code ?? (err as Error).message?.slice(0, 200) ?? 'unknown';
      await this.deps.store
        .appendAudit({ ...audit(actor), action: 'certificate.issue', target: null, outcome: 'failure', details: { code: 'record_failed', serial: serialHex, issuer: issuer.record.name, reason } })
        .catch(() => {}); // the database may be what failed: the reservation still names the serial
      throw err;
    }
  }

  private async replay(actor: Actor, key: string, requestHash: string): Promise<IssuedCertificate | null> {
    const previous = await this.deps.store.getIdempotency(actor.id, key);
    if (!previous) return null;
    if (previous.requestHash !== requestHash) {
      throw conflict('idempotency_key_reused', 'this Idempotency-Key was used with a different request body');
    }
    const record = await this.deps.store.getCertificate(previous.certificateId);
    if (!record) throw new Error('idempotency row points at a missing certificate');
    return { record, issuer: this.issuerById(record.issuerId), replayed: true };
  }

  /**
   * Encodes the TBS, lints it as read back from that DER, and signs exactly those bytes; any
   * finding refuses the signature.
   */
  private async signLinted(
    params: CertificateParams,
    signer: LoadedIssuer['signer'],
    role: CertificateRole,
    issuerNotAfter: Date,
  ): Promise<Uint8Array> {
    const tbsDer = encodeTbsCertificate(params, signer.signatureAlgorithm);
    const findings = lintTbs(tbsDer, { role, issuerNotAfter });
    if (findings.length) {
      throw invalid('lint_failed', `the certificate would break: ${findings.map((f) => f.message).join('; ')}`, { findings });
    }
    return signTbs(tbsDer, signer);
  }

  /**
   * A delegated OCSP responder certificate for `issuer`: OCSPSigning, id-pkix-ocsp-nocheck,
   * short-lived. Its key lives only in this process's memory; the certificate is recorded.
   */
  private async issueOcspResponder(issuer: LoadedIssuer, ttlMs: number): Promise<ResponderCredentials> {
    const key = await generateKey('EC-P256');
    const now = this.now();
    const serial = (await this.serials.take(issuer.record.id)).bytes;
    let notAfter = new Date(now.getTime() + ttlMs);
    if (notAfter > issuer.record.notAfter) notAfter = issuer.record.notAfter;
    const subject = { CN: `Anvil OCSP Responder (${issuer.record.name})`, O: this.deps.config.organization };
    const tbs: CertificateParams = {
      serial,
      subject,
      issuerName: issuer.certificate.subject,
      issuerKeyId: keyIdentifier(issuer.signer.publicKeySpki),
      subjectPublicKeySpki: key.spkiDer,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['ocspSigning'],
      basicConstraints: { ca: false },
      ocspNoCheck: true,
    };
    const der = await this.signLinted(tbs, issuer.signer, 'ocsp', issuer.record.notAfter);
    await this.recordSigned(serialToHex(serial), issuer, SYSTEM_ACTOR, () => this.deps.store.insertIssuedCertificate(
      {
        issuerId: issuer.record.id,
        serial: serialToHex(serial),
        profile: 'ocsp-responder',
        subject: subjectToString(subject),
        commonName: subject.CN,
        sans: emptySans(),
        keyAlgorithm: 'EC-P256',
        notBefore: truncateToSeconds(tbs.notBefore),
        notAfter: truncateToSeconds(tbs.notAfter),
        der,
        fingerprintSha256: fingerprintSha256(der),
        requestedBy: SYSTEM_ACTOR.id,
      },
      { ...audit(SYSTEM_ACTOR), action: 'certificate.issue', outcome: 'success', details: { serial: serialToHex(serial), profile: 'ocsp-responder', issuer: issuer.record.name } },
    ));
    return { certificateDer: der, signer: new SoftwareSigner('EC-P256', key.pkcs8Der), notAfter: truncateToSeconds(tbs.notAfter) };
  }

  // ---- reading -----------------------------------------------------------------------------

  async certificate(id: string): Promise<CertificateRecord> {
    const record = await this.deps.store.getCertificate(id);
    if (!record) throw notFound('certificate_not_found', `no certificate with id ${id}`);
    return record;
  }

  listCertificates(query: CertificateQuery) {
    return this.deps.store.listCertificates(query);
  }

  /** PEM texts of a certificate: the leaf, its intermediates, and both together. */
  pemsOf(record: CertificateRecord) {
    const issuer = this.issuerById(record.issuerId);
    const certificate = toPem(record.der, 'CERTIFICATE');
    const chain = chainOf(issuer).map((i) => i.pem).join('');
    return { certificate, chain, fullchain: certificate + chain };
  }

  trustBundlePem(): string {
    return this.roots().map((r) => r.pem).join('');
  }

  async authenticate(token: string) {
    const row = await this.deps.store.findTokenByHash(hashToken(token));
    return row && !row.revokedAt ? row : null;
  }
}


export function audit(actor: Actor) {
  return { actor: actor.name === actor.id ? actor.id : `${actor.name} (${actor.id})`, source: actor.source };
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
      if (blocks.length > 1) throw invalid('invalid_csr', `the csr field holds ${blocks.length} PEM blocks; send exactly one certificate request`);
      der = pemToDerList(text, CSR_LABELS)[0];
      const tail = text.slice(text.lastIndexOf('-----END') + '-----END'.length).replace(/^[A-Z0-9 ]*-----/, '');
      if (tail.trim() !== '') throw invalid('invalid_csr', 'the csr field has text after the end of the PEM block; send exactly one certificate request');
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
  const { idempotencyKey: _key, ...rest } = req;
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

export { CaError };
export type { IssuerRecord };
