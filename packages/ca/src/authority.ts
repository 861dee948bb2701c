/**
 * The authority as callers see it: a thin façade composing the concerns that live beside it —
 * bootstrap.ts, issuer-registry.ts, profile-catalog.ts, issuance.ts, tokens.ts and revocation/.
 * Callers get these methods, never the store.
 */
import { toPem, type KeyAlgorithm, type KeyBackup } from '@anvil/pki';
import { audit, type Actor } from './audit.ts';
import { AcmeService, DEFAULT_ACME_LIMITS, type AcmeLimits } from './acme/service.ts';
import { verifyAuditChain, type AuditChainReport } from './audit-chain.ts';
import { bootstrap, type BootstrapResult } from './bootstrap.ts';
import { AcmeEab } from './acme/eab.ts';
import { renewalInfoFor, type RenewalWindow } from './acme/renewal-info.ts';
import { createKeyBackup } from './custody/backup.ts';
import { CaError, conflict, invalid, notFound } from './errors.ts';
import {
  checkInvitation,
  createInvitation,
  hashInvitationSecret,
  INVITATION_SECRET,
  revokeInvitation,
  type InvitationParams,
} from './invitations.ts';
import { Issuance, type IssuedCertificate, type IssueRequest } from './issuance.ts';
import {
  completePendingIssuer,
  createPendingIssuer,
  importIssuer,
  pendingCsrPem,
  type CompletePendingParams,
  type ImportDeps,
  type ImportIssuerParams,
  type PendingIssuerParams,
} from './issuer-import.ts';
import { IssuerRegistry, type CreateIssuerParams } from './issuer-registry.ts';
import { IssuerRotation, type LoadedCrossCertificate, type RotationResult } from './issuer-rotation.ts';
import { chainPem, stillPublishes, type LoadedIssuer } from './issuers.ts';
import type { KeyCustody, KeyEncryptionKey } from './key-custody.ts';
import { ProfileCatalog, type ProfileParams } from './profile-catalog.ts';
import { effectiveRateLimit } from './rate-limit.ts';
import type { Profile } from './profiles.ts';
import { CrlPublisher, DEFAULT_CRL_POLICY, type CrlPolicy } from './revocation/crl-publisher.ts';
import { RevocationNotices } from './revocation/notices.ts';
import { OcspResponder, signsOwnAnswers, type OcspSignerChoice, type ResponderCredentials } from './revocation/ocsp-responder.ts';
import { propagateRevocation } from './revocation/propagation.ts';
import { Revocations } from './revocation/revocations.ts';
import { SerialReservations } from './serials.ts';
import type {
  AuditQuery,
  AuditRecord,
  CertificateQuery,
  CertificateRecord,
  InvitationRecord,
  PendingIssuerRecord,
  SerialStatus,
  Store,
  StoredCrl,
  StoreTx,
  TokenRecord,
  TrustAnchorRecord,
} from './store.ts';
import { authenticate, checkScopedToken, createScopedToken, revokeToken, type ScopedTokenParams } from './tokens.ts';
import { DEFAULT_SESSION_POLICY, Users, type SessionPolicy } from './users.ts';

export interface AuthorityConfig {
  /** Base of the CRL, AIA and OCSP URLs written into certificates. */
  publicUrl: string;
  /** Key algorithm of the CAs created at bootstrap. */
  caKeyAlgorithm: KeyAlgorithm;
  organization: string;
  crl?: Partial<CrlPolicy>;
  /** Lifetime of the delegated OCSP responder certificates (default 48 h, renewed with 24 h left). */
  ocspResponderTtlMs?: number;
  /**
   * Where this process gets its OCSP responder credentials (default: it issues them itself). A
   * worker process asks its supervisor, so one responder per issuer serves every worker (main.ts).
   */
  ocspResponders?: (issuer: LoadedIssuer) => Promise<ResponderCredentials>;
  /**
   * Who signs OCSP answers (ANVIL_OCSP_SIGNER): `delegated`, a responder certificate per issuer;
   * `issuer`, the CA key itself; `auto` (default), the CA key when it is on a PKCS#11 token (so
   * the token key signs every answer, and no responder key exists outside it), else delegated.
   */
  ocspSigner?: OcspSignerChoice;
  /** Console sessions and sign-in throttling (defaults: 30 min idle, 12 h absolute). */
  sessions?: Partial<SessionPolicy>;
  /**
   * Certificates per minute a token without a rate limit of its own may issue over the API
   * (ANVIL_ISSUE_RATE_LIMIT); admin tokens are exempt. Unset or 0: no default limit.
   */
  issueRateLimit?: number;
  /** ACME rate limits (acme/service.ts DEFAULT_ACME_LIMITS where absent). */
  acme?: Partial<AcmeLimits>;
}

export class Authority {
  readonly crls: CrlPublisher;
  readonly ocsp: OcspResponder;
  readonly revocations: Revocations;
  /** Every revocation of every process sharing the database; what revocation-dependent caches listen to. */
  readonly revocationNotices: RevocationNotices;
  /** Console accounts and sessions (users.ts). */
  readonly users: Users;
  /** ACME External Account Binding credentials (acme/eab.ts). */
  readonly acmeEab: AcmeEab;
  // ---- ACME
  private acmeService: AcmeService | null = null;
  /** The ACME server (acme/service.ts) the /acme routes drive, made on first use. */
  get acme(): AcmeService {
    return (this.acmeService ??= new AcmeService({
      store: this.deps.store,
      authority: {
        profile: (name) => this.profile(name),
        issue: (req, actor) => this.issue(req, actor),
        revoke: (id, reason, actor) => this.revocations.revoke(id, reason, actor),
        issuers: () => this.issuers(),
        pemsOf: (record) => this.pemsOf(record),
      },
      eab: () => this.acmeEab,
      limits: { ...DEFAULT_ACME_LIMITS, ...this.deps.config.acme },
      now: () => this.now(),
    }));
  }
  private readonly registry: IssuerRegistry;
  private readonly catalog: ProfileCatalog;
  private readonly issuance: Issuance;
  private readonly rotation: IssuerRotation;

  constructor(
    private readonly deps: {
      store: Store;
      custody: KeyCustody;
      config: AuthorityConfig;
      now?: () => Date;
      /** The key-encryption key, for secrets other than CA keys (EAB HMAC keys); without it EAB is unavailable. */
      kek?: KeyEncryptionKey;
    },
  ) {
    const { store, custody, config } = deps;
    const now = deps.now ?? (() => new Date());
    const serials = new SerialReservations(store);
    this.registry = new IssuerRegistry({ store, custody, serials, publicUrl: config.publicUrl, organization: config.organization, now });
    this.catalog = new ProfileCatalog({
      store,
      checkIssuer: (name) => {
        // A profile issues from a working issuer: a retired one signs nothing more (issuer-rotation.ts).
        if (this.registry.issuerByName(name).record.status === 'retired') {
          throw conflict('issuer_retired', `issuer "${name}" is retired: choose the issuer it was rotated to`);
        }
      },
    });
    this.issuance = new Issuance({
      store,
      issuers: this.registry,
      profiles: this.catalog,
      serials,
      publicUrl: config.publicUrl,
      organization: config.organization,
      now,
    });
    this.rotation = new IssuerRotation({
      store,
      registry: this.registry,
      profiles: this.catalog,
      serials,
      publicUrl: config.publicUrl,
      now,
    });
    this.users = new Users({ store, now, policy: { ...DEFAULT_SESSION_POLICY, ...config.sessions } });
    // ---- ACME EAB
    this.acmeEab = new AcmeEab({
      store,
      kek: deps.kek ?? null,
      now,
      profileExists: async (name) => (await this.knownProfile(name)) !== null,
    });
    this.crls = new CrlPublisher(store, now, { ...DEFAULT_CRL_POLICY, ...config.crl });
    this.revocationNotices = new RevocationNotices(store);
    const responderTtl = config.ocspResponderTtlMs ?? 48 * 3600_000;
    this.ocsp = new OcspResponder({
      store,
      notices: this.revocationNotices,
      now,
      issuers: () => this.issuers(),
      // A retired issuer whose last certificate has expired answers nothing more (`unauthorized`).
      publishes: (issuer) => stillPublishes(issuer, now()),
      issueResponder: config.ocspResponders ?? ((issuer) => this.issuance.issueOcspResponder(issuer, responderTtl)),
      signsOwnAnswers: signsOwnAnswers(config.ocspSigner ?? 'auto'),
      renewBeforeMs: responderTtl / 2,
    });
    this.revocations = new Revocations({
      store,
      now,
      issuerById: (id) => this.issuerById(id),
      issuerByName: (name) => this.issuerByName(name),
      afterChange: propagateRevocation({ notices: this.revocationNotices, crls: this.crls, issuerById: (id) => this.issuerById(id) }),
    });
  }

  /**
   * Background duties of a running server: keep CRLs fresh, and hear of revocations committed by
   * other processes sharing the database (the caches drop what they concern).
   */
  async start(onError: (err: unknown) => void, options: { background?: boolean } = {}): Promise<void> {
    // Issuers changed by another process (created, imported, retired, revoked): reload ours.
    this.revocationNotices.onIssuersChanged(() => void this.reloadIssuers().catch(onError));
    await this.revocationNotices.start();
    // A worker process leaves the background CRL re-signing to its supervisor (main.ts): once per node, not per worker.
    if (options.background !== false) this.crls.start(() => this.issuers(), onError);
  }

  private reloading: Promise<void> | null = null;
  private reloadAgain = false;

  /** Re-reads issuers, anchors, pending issuers and cross-certificates; calls during a reload share one more after it. */
  private reloadIssuers(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        await this.registry.load();
        this.rotation.forgetCrossCertificates();
        this.ocsp.indexIssuers();
      } while (this.reloadAgain);
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  /** A new delegated OCSP responder certificate and key for the issuer (the supervisor hands it to its workers). */
  issueOcspResponder(issuerId: string): Promise<ResponderCredentials> {
    return this.issuance.issueOcspResponder(this.registry.issuerById(issuerId), this.deps.config.ocspResponderTtlMs ?? 48 * 3600_000);
  }

  stop(): void {
    this.crls.stop();
  }

  /**
   * First start: built-in profiles, a root and one issuing intermediate, and the admin token.
   * Later starts reuse them. Returns the admin token only when it was generated here.
   */
  bootstrap(options: { adminToken?: string; adminPassword?: string } = {}): Promise<BootstrapResult> {
    return bootstrap(
      { store: this.deps.store, issuers: this.registry, users: this.users, caKeyAlgorithm: this.deps.config.caKeyAlgorithm },
      options,
    );
  }

  // ---- issuers (issuer-registry.ts) ----------------------------------------------------------

  /** (Re)reads issuers from the store; parents before children. */
  loadIssuers(): Promise<void> {
    return this.registry.load();
  }

  issuers(): LoadedIssuer[] {
    return this.registry.issuers();
  }

  issuerByName(name: string): LoadedIssuer {
    return this.registry.issuerByName(name);
  }

  issuerById(id: string): LoadedIssuer {
    return this.registry.issuerById(id);
  }

  roots(): LoadedIssuer[] {
    return this.registry.roots();
  }

  defaultIssuer(): LoadedIssuer {
    return this.registry.defaultIssuer();
  }

  chain(issuer: LoadedIssuer): LoadedIssuer[] {
    return this.registry.chain(issuer);
  }

  /** Creates a root (self-signed) or an intermediate under `parent`, pathLen 0 for intermediates. */
  createIssuer(params: CreateIssuerParams, actor: Actor): Promise<LoadedIssuer> {
    return this.registry.createIssuer(params, actor);
  }

  /** An encrypted backup of every software CA key with the issuer certificates (custody/backup.ts); audited `issuer.backup`. */
  async exportKeyBackup(passphrase: string, actor: Actor): Promise<KeyBackup> {
    const backup = createKeyBackup(this.registry.issuers(), this.deps.custody, passphrase, this.now());
    const keys = backup.issuers.filter((i) => i.privateKey).length;
    await this.deps.store.transaction((tx) =>
      tx.appendAudit({
        ...audit(actor),
        action: 'issuer.backup',
        target: '*',
        outcome: 'success',
        details: { issuers: backup.issuers.length, softwareKeys: keys },
      }),
    );
    return backup;
  }

  // ---- rotation and root rollover (issuer-rotation.ts) ----------------------------------------

  /** Moves profiles from intermediate `from` to `to` (none: retire only, refused while a profile issues from it) and retires `from`. */
  rotateIssuer(from: string, params: { to?: string; profiles?: string[] }, actor: Actor): Promise<RotationResult> {
    return this.rotation.rotate(from, params, actor);
  }

  /** Root rollover: root `subject`'s subject and key certified by the older root `signer`. */
  crossCertify(subject: string, signer: string, actor: Actor): Promise<LoadedCrossCertificate> {
    return this.rotation.crossCertify(subject, signer, actor);
  }

  crossCertificates(): Promise<LoadedCrossCertificate[]> {
    return this.rotation.crossCertificates();
  }

  /** chain.pem followed by the cross-certificates of the issuer's root: for servers whose clients may trust only an older root. */
  async crossChainPem(issuer: LoadedIssuer): Promise<string> {
    return (await this.rotation.crossChain(issuer)).join('');
  }

  // ---- CAs brought in from elsewhere (issuer-import.ts) --------------------------------------

  private importDeps(): ImportDeps {
    return {
      store: this.deps.store,
      custody: this.deps.custody,
      host: this.registry,
      organization: this.deps.config.organization,
      now: () => this.now(),
    };
  }

  /** Imports an existing CA with its key: a root when self-signed, else an intermediate under its chain; audited `issuer.import`. */
  importIssuer(params: ImportIssuerParams, actor: Actor): Promise<LoadedIssuer> {
    return importIssuer(this.importDeps(), params, actor);
  }

  /** An intermediate whose key Anvil holds, pending until an external root's certificate is imported. */
  createPendingIssuer(params: PendingIssuerParams, actor: Actor): Promise<PendingIssuerRecord> {
    return createPendingIssuer(this.importDeps(), params, actor);
  }

  pendingIssuers(): PendingIssuerRecord[] {
    return this.registry.pendingIssuers();
  }

  pendingCsrPem(name: string): string {
    return pendingCsrPem(this.importDeps(), name);
  }

  /** Activates a pending intermediate with the certificate an external root signed (and that root as a trust anchor). */
  completePendingIssuer(name: string, params: CompletePendingParams, actor: Actor): Promise<LoadedIssuer> {
    return completePendingIssuer(this.importDeps(), name, params, actor);
  }

  trustAnchors(): TrustAnchorRecord[] {
    return this.registry.trustAnchors();
  }

  // ---- profiles (profile-catalog.ts) ---------------------------------------------------------

  profile(name: string, tx?: StoreTx): Promise<Profile> {
    return this.catalog.profile(name, tx);
  }

  listProfiles(): Promise<Profile[]> {
    return this.catalog.listProfiles();
  }

  saveProfile(params: ProfileParams, mode: 'create' | 'update', actor: Actor): Promise<Profile> {
    return this.catalog.saveProfile(params, mode, actor);
  }

  // ---- issuance (issuance.ts) ----------------------------------------------------------------

  /** Issues a certificate; a refusal is audited as a failed `certificate.issue` with its code. */
  issue(req: IssueRequest, actor: Actor): Promise<IssuedCertificate> {
    return this.issuance.issue(req, actor);
  }

  /** Renews a certificate whose holder just proved possession of it (mTLS), decided on its database row. */
  renew(params: {
    issuerId: string;
    serialHex: string;
    /** Or `keyAlgorithm`: a key generated here, in the answer only (EST serverkeygen). */
    csr?: string;
    keyAlgorithm?: KeyAlgorithm;
    /** The profile the certificate must be of (403 profile_mismatch otherwise). */
    profile?: string;
    source: string | null;
  }): Promise<IssuedCertificate & { renewedFrom: string }> {
    return this.issuance.renew(params);
  }

  // ---- reading -------------------------------------------------------------------------------

  async certificate(id: string): Promise<CertificateRecord> {
    const record = await this.deps.store.getCertificate(id);
    if (!record) throw notFound('certificate_not_found', `no certificate with id ${id}`);
    return record;
  }

  listCertificates(query: CertificateQuery) {
    return this.deps.store.listCertificates(query);
  }

  /** Certificates per status and profile. */
  certificateCounts() {
    return this.deps.store.certificateCounts();
  }

  /** What the database says of a serial under an issuer (the judge's revocation truth). */
  serialStatus(issuerId: string, serialHex: string): Promise<SerialStatus | null> {
    return this.deps.store.serialStatus(issuerId, serialHex);
  }

  /** The audit trail, newest first. */
  listAudit(params: AuditQuery): Promise<AuditRecord[]> {
    return this.deps.store.listAudit(params);
  }

  /** Resolves when the database answers a trivial read (readiness); rejects with the driver's error. */
  async databaseReady(): Promise<void> {
    await this.deps.store.getSetting('admin_token_created');
  }

  /** PEM texts of a certificate: the leaf, its intermediates, and both together. */
  pemsOf(record: CertificateRecord) {
    const issuer = this.issuerById(record.issuerId);
    const certificate = toPem(record.der, 'CERTIFICATE');
    const chain = chainPem(issuer);
    return { certificate, chain, fullchain: certificate + chain };
  }

  /** The base of the /pki URLs written into certificates (ANVIL_PKI_URL): where gateways download trust files and CRLs. */
  pkiUrl(): string {
    return this.deps.config.publicUrl.replace(/\/+$/, '');
  }

  trustBundlePem(): string {
    // External roots above imported intermediates (issuer-import.ts) are trusted too.
    return (
      this.roots()
        .map((r) => r.pem)
        .join('') +
      this.registry
        .trustAnchors()
        .map((a) => toPem(a.certificateDer, 'CERTIFICATE'))
        .join('')
    );
  }

  authenticate(token: string) {
    return authenticate(this.deps.store, token, this.now());
  }

  /** The issuance rate limit per minute a token's API issuances are counted against (rate-limit.ts); null: none. */
  issueRateLimit(token: Pick<TokenRecord, 'rateLimit' | 'scopes'>): number | null {
    return effectiveRateLimit(token, this.deps.config.issueRateLimit ?? 0);
  }

  /** The stored CRL's number and dates, without re-signing (the dashboard shows a stale CRL as stale). */
  crlHeader(issuer: LoadedIssuer) {
    return this.deps.store.getCrlHeader(issuer.record.id);
  }

  /** The authority's clock: pages compare times with the same clock that signs. */
  now(): Date {
    return this.deps.now ? this.deps.now() : new Date();
  }

  /** Re-signs an issuer's CRL on an operator's request, audited as `crl.publish` with the new number in the CRL's transaction. */
  resignCrl(issuer: LoadedIssuer, actor: Actor): Promise<StoredCrl> {
    // The audit row commits with the CRL it names.
    return this.crls.publish(issuer, (tx, crl) =>
      tx.appendAudit({
        ...audit(actor),
        action: 'crl.publish',
        target: issuer.record.id,
        outcome: 'success',
        details: { issuer: issuer.record.name, crlNumber: crl.number.toString() },
      }),
    );
  }

  /** Walks the audit trail's hash chain (audit-chain.ts), page by page. */
  verifyAuditChain(): Promise<AuditChainReport> {
    return verifyAuditChain(this.deps.store);
  }

  /** Every audit row matching the filters, oldest first, one page (keyset on id) at a time. */
  async *exportAudit(query: Omit<AuditQuery, 'limit' | 'beforeId' | 'afterId' | 'order'>, pageSize = 500): AsyncIterable<AuditRecord[]> {
    let afterId: string | undefined;
    for (;;) {
      const page = await this.deps.store.listAudit({ ...query, limit: pageSize, afterId, order: 'oldest' });
      if (page.length) yield page;
      if (page.length < pageSize) return;
      afterId = page[page.length - 1].id;
    }
  }

  // ---- ACME Renewal Information (acme/renewal-info.ts) -------------------------------------

  /** The renewal window of the certificate a certID names; throws AcmeProblem (404 `malformed` when unknown). */
  renewalInfo(certId: string): Promise<RenewalWindow> {
    const lookup = {
      issuers: () => this.issuers(),
      certificateBySerial: (id: string, serial: string) => this.deps.store.getCertificateBySerial(id, serial),
    };
    return renewalInfoFor(certId, lookup, this.now());
  }

  // ---- scoped API tokens (tokens.ts) ---------------------------------------------------------

  /** Creates a scoped token (422 on bad input, nothing stored), audited; the token is returned this once. */
  async createToken(params: ScopedTokenParams, actor: Actor): Promise<{ id: string; token: string }> {
    const checked = await checkScopedToken(params, this.now(), async (name) => (await this.knownProfile(name)) !== null);
    return this.deps.store.transaction((tx) => createScopedToken(tx, checked, actor));
  }

  /** A profile an operator names in a token or invitation: null when there is none of that name. */
  private async knownProfile(name: string): Promise<Profile | null> {
    try {
      return await this.profile(name);
    } catch (err) {
      if (err instanceof CaError && err.kind === 'not_found') return null;
      throw err;
    }
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.deps.store.listTokens();
  }

  async token(id: string): Promise<TokenRecord> {
    const row = await this.deps.store.getToken(id);
    if (!row) throw notFound('token_not_found', `there is no token ${id}`);
    return row;
  }

  /** Revokes a token, audited; every process refuses it within the authentication cache's 5 s. */
  revokeToken(id: string, actor: Actor): Promise<TokenRecord> {
    return this.deps.store.transaction((tx) => revokeToken(tx, id, this.now(), actor));
  }

  // ---- enrollment invitations (invitations.ts) -----------------------------------------------

  /** Creates an invitation (422 on bad input, nothing stored), audited; its secret is returned this once. */
  async createInvitation(params: InvitationParams, actor: Actor): Promise<{ invitation: InvitationRecord; secret: string }> {
    const profile = typeof params.profile === 'string' ? await this.knownProfile(params.profile) : null;
    if (!profile)
      throw invalid('unknown_profile', `there is no profile "${String(params.profile).slice(0, 64)}"`, { profile: params.profile });
    const checked = checkInvitation(params, profile, this.now());
    return this.deps.store.transaction((tx) => createInvitation(tx, checked, actor));
  }

  listInvitations(query: { limit: number; before?: string }): Promise<InvitationRecord[]> {
    return this.deps.store.listInvitations(query);
  }

  async invitation(id: string): Promise<InvitationRecord> {
    const row = await this.deps.store.getInvitation(id);
    if (!row) throw notFound('invitation_not_found', `there is no invitation ${id}`);
    return row;
  }

  /** The invitation a URL's secret opens, in whatever state it is; 404 for a secret that opens none. */
  async invitationBySecret(secret: string): Promise<InvitationRecord> {
    const row = INVITATION_SECRET.test(secret) ? await this.deps.store.findInvitationBySecretHash(hashInvitationSecret(secret)) : null;
    if (!row) throw notFound('invitation_not_found', 'this invitation link is not one this Anvil gave out; check that it was copied whole');
    return row;
  }

  /** Withdraws an unused invitation, audited. */
  revokeInvitation(id: string, actor: Actor): Promise<InvitationRecord> {
    return this.deps.store.transaction((tx) => revokeInvitation(tx, id, this.now(), actor));
  }

  /** Issues an invitation's one certificate, from a CSR or with a key generated here; 410 when used, expired or withdrawn. */
  async enroll(
    secret: string,
    key: { csr?: string; keyAlgorithm?: KeyAlgorithm; commonName?: string },
    source: string | null,
  ): Promise<IssuedCertificate> {
    return this.issuance.enroll(await this.invitationBySecret(secret), key, source);
  }
}
