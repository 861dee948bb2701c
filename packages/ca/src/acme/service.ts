/**
 * The ACME server (RFC 8555) behind /acme/{profile}/: request authentication (JWS, nonce, url,
 * account key), accounts, orders, authorizations, challenges, finalization through the
 * authority's own issuance, certificate download and revocation, and per-account and per-name
 * rate limits. Every state change commits with its audit row, the account as actor. The HTTP
 * layer (apps/server/src/routes/acme) only reads bodies and writes answers.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  base64urlDecode,
  base64urlEncode,
  certificateFacts,
  emptySans,
  JwsError,
  jwkThumbprint,
  jwkToSpkiDer,
  parseAndVerifyCsr,
  parseFlattenedJws,
  REVOCATION_REASON_CODES,
  toPem,
  verifyJwsSignature,
  type JwsProtectedHeader,
  type ParsedJws,
  type RevocationReason,
  type Sans,
} from '@anvil/pki';
import { audit, type Actor } from '../audit.ts';
import { CaError } from '../errors.ts';
import type { IssuedCertificate, IssueRequest } from '../issuance.ts';
import type { LoadedIssuer } from '../issuers.ts';
import { checkNames, type AcmeChallengeType, type Profile } from '../profiles.ts';
import type { RevocationOutcome } from '../revocation/revocations.ts';
import type { CertificateRecord, Store, StoreTx } from '../store.ts';
import { checkTokenProfile, checkTokenSans, type TokenLimits } from '../token-limits.ts';
import type { ChallengeToValidate } from './challenges.ts';
import type { EabBinding } from './eab.ts';
import { AcmeProblem, acmeProblem, fromCaError } from './problems.ts';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeIdentifier, AcmeOrderRecord } from './store.ts';

/** Validates one challenge (challenges.ts `validateChallenge` over the configured settings); throws AcmeProblem. */
export type ChallengeValidator = (challenge: ChallengeToValidate) => Promise<void>;

/** The binder of eab.ts, as the Authority exposes it (`authority.acmeEab`). */
export interface AcmeEabBinder {
  bind(
    tx: StoreTx,
    params: { eab: unknown; accountJwk: JsonWebKey; url: string; profile: string; accountId: string },
    now: Date,
  ): Promise<EabBinding>;
}

/** ACME's limits (ANVIL_ACME_ORDERS_PER_HOUR, ANVIL_ACME_CERTS_PER_NAME_PER_WEEK); 0: none. */
export interface AcmeLimits {
  ordersPerAccountPerHour: number;
  certificatesPerNamePerWeek: number;
}

export const DEFAULT_ACME_LIMITS: AcmeLimits = { ordersPerAccountPerHour: 300, certificatesPerNamePerWeek: 50 };

/** How long a nonce, an order and its authorizations stay usable. */
const NONCE_LIFETIME_MS = 3600_000;
const ORDER_LIFETIME_MS = 7 * 86_400_000;
const MAX_IDENTIFIERS = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The reasons RFC 8555 7.6 lets a client give (RFC 5280 codes); hold and removeFromCRL are the CA's business. */
const ACME_REVOCATION_REASONS: ReadonlySet<RevocationReason> = new Set<RevocationReason>([
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
]);

/**
 * The URLs of one profile's directory as one listener's clients reach it. The protected header's
 * `url` must equal the URL of the request built from the same base, and an account's `kid` is
 * its URL under it.
 */
export class AcmeUrls {
  readonly root: string;
  constructor(
    base: string,
    readonly profile: string,
  ) {
    this.root = `${base.replace(/\/+$/, '')}/acme/${encodeURIComponent(profile)}`;
  }
  directory = () => `${this.root}/directory`;
  newNonce = () => `${this.root}/new-nonce`;
  newAccount = () => `${this.root}/new-account`;
  newOrder = () => `${this.root}/new-order`;
  revokeCert = () => `${this.root}/revoke-cert`;
  keyChange = () => `${this.root}/key-change`;
  renewalInfo = () => `${this.root}/renewal-info`;
  account = (id: string) => `${this.root}/acct/${id}`;
  orders = (accountId: string) => `${this.root}/acct/${accountId}/orders`;
  order = (id: string) => `${this.root}/order/${id}`;
  finalize = (id: string) => `${this.root}/order/${id}/finalize`;
  authorization = (id: string) => `${this.root}/authz/${id}`;
  challenge = (id: string) => `${this.root}/chall/${id}`;
  certificate = (id: string) => `${this.root}/cert/${id}`;

  /** The account id a `kid` names, or null when it is not an account URL of this directory. */
  accountIdOf(kid: string): string | null {
    const prefix = `${this.root}/acct/`;
    const id = kid.startsWith(prefix) ? kid.slice(prefix.length) : '';
    return UUID.test(id) ? id.toLowerCase() : null;
  }
}

/** An authenticated ACME request: its JWS, the payload (null for POST-as-GET), and who signed it. */
export interface AcmeRequest {
  jws: ParsedJws;
  payload: unknown;
  /** The key that verified the signature. */
  jwk: JsonWebKey;
  /** The account of a `kid` request; absent for a `jwk` one. */
  account?: AcmeAccountRecord;
}

/** The narrow part of the Authority ACME works through. */
export interface AcmeAuthority {
  profile(name: string): Promise<Profile>;
  issue(req: IssueRequest, actor: Actor): Promise<IssuedCertificate>;
  revoke(id: string, reason: RevocationReason, actor: Actor): Promise<RevocationOutcome>;
  issuers(): LoadedIssuer[];
  pemsOf(record: CertificateRecord): { certificate: string; chain: string; fullchain: string };
}

/**
 * A problem with what RFC 8555 adds beside the document: the accepted `algorithms` of a
 * badSignatureAlgorithm (6.2), and the existing account's URL as Location of a key-change conflict (7.3.5).
 */
export class AcmeProblemWithExtras extends AcmeProblem {
  constructor(
    type: ConstructorParameters<typeof AcmeProblem>[0],
    detail: string,
    options: ConstructorParameters<typeof AcmeProblem>[2] & { algorithms?: readonly string[]; location?: string },
  ) {
    super(type, detail, options);
    this.algorithms = options.algorithms;
    this.location = options.location;
  }
  readonly algorithms?: readonly string[];
  readonly location?: string;

  override toJSON() {
    return { ...super.toJSON(), ...(this.algorithms ? { algorithms: [...this.algorithms] } : {}) };
  }
}

const notFound = (what: string) => acmeProblem('malformed', `no such ${what}`, { status: 404 });

export function acmeActor(accountId: string, source: string | null): Actor {
  return { id: `acme:${accountId}`, name: `ACME account ${accountId}`, source };
}

/** A JWS refusal in ACME terms; `badSignatureAlgorithm` carries the accepted list. */
function jwsProblem(err: JwsError): AcmeProblem {
  if (err.code === 'badSignatureAlgorithm')
    return new AcmeProblemWithExtras('badSignatureAlgorithm', err.message, { algorithms: err.algorithms });
  if (err.code === 'badPublicKey') return acmeProblem('badPublicKey', err.message);
  return acmeProblem('malformed', err.message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parsePayload(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    throw acmeProblem('malformed', 'the JWS payload is not JSON');
  }
}

/** `dns` + `ip` names of identifiers as a Sans (wildcards kept as the certificate will carry them). */
function identifierSans(identifiers: readonly AcmeIdentifier[]): Sans {
  const sans = emptySans();
  for (const id of identifiers) sans[id.type].push(id.value);
  return sans;
}

const identifierKey = (id: AcmeIdentifier) => `${id.type}:${id.value}`;

export class AcmeService {
  /** Validations running in the background; `settled()` waits for them (tests, shutdown). */
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      store: Store;
      authority: AcmeAuthority;
      /** The External Account Binding checker; absent: accounts with a binding are refused. */
      eab: () => AcmeEabBinder | undefined;
      limits: AcmeLimits;
      now: () => Date;
    },
  ) {}

  // ---- directory and nonces ------------------------------------------------------------------

  /** The profile of a directory, or 404 `malformed` when it has none (unknown, or ACME not enabled). */
  async directoryProfile(name: string): Promise<Profile> {
    let profile: Profile | null = null;
    try {
      profile = await this.deps.authority.profile(name);
    } catch (err) {
      if (!(err instanceof CaError && err.kind === 'not_found')) throw err;
    }
    if (!profile?.policy.acme?.enabled) {
      throw acmeProblem('malformed', `no ACME directory for profile "${name.slice(0, 64)}": ACME is not enabled on it`, { status: 404 });
    }
    return profile;
  }

  directory(urls: AcmeUrls, profile: Profile) {
    return {
      newNonce: urls.newNonce(),
      newAccount: urls.newAccount(),
      newOrder: urls.newOrder(),
      revokeCert: urls.revokeCert(),
      keyChange: urls.keyChange(),
      renewalInfo: urls.renewalInfo(),
      meta: {
        externalAccountRequired: profile.policy.acme?.requireEab ?? false,
      },
    };
  }

  async newNonce(): Promise<string> {
    const nonce = base64urlEncode(randomBytes(16));
    const now = this.deps.now();
    await this.deps.store.acme.insertNonce(nonce, new Date(now.getTime() + NONCE_LIFETIME_MS));
    // Expired nonces are never found; forgetting them now and then keeps the table small.
    if (Math.random() < 0.01) await this.deps.store.acme.pruneNonces(now);
    return nonce;
  }

  // ---- request authentication (RFC 8555 6.2 - 6.5) -------------------------------------------

  /**
   * Checks a POST body: a flattened JWS, an unused nonce, `url` equal to `requestUrl`, and a
   * signature by the key named (`jwk` where `key` is 'jwk', `kid` of a valid account of this
   * directory where 'kid', either where 'either').
   */
  async authenticate(body: unknown, requestUrl: string, urls: AcmeUrls, key: 'jwk' | 'kid' | 'either'): Promise<AcmeRequest> {
    let jws: ParsedJws;
    try {
      jws = parseFlattenedJws(body);
    } catch (err) {
      if (err instanceof JwsError) throw jwsProblem(err);
      throw err;
    }
    const header: JwsProtectedHeader = jws.protected;
    if (typeof header.nonce !== 'string' || header.nonce === '') throw acmeProblem('badNonce', 'the protected header has no nonce');
    if (typeof header.url !== 'string') throw acmeProblem('malformed', 'the protected header has no url');
    if ((header.jwk === undefined) === (header.kid === undefined)) {
      throw acmeProblem('malformed', 'the protected header must carry exactly one of "jwk" and "kid"');
    }
    if (key === 'jwk' && header.jwk === undefined)
      throw acmeProblem('malformed', 'this request is signed with the new key: send "jwk", not "kid"');
    if (key === 'kid' && header.kid === undefined)
      throw acmeProblem('malformed', 'this request is signed by an account: send "kid", not "jwk"');
    // The nonce is used up before anything else can fail: a request that failed cannot be replayed either.
    if (!(await this.deps.store.acme.consumeNonce(header.nonce, this.deps.now()))) {
      throw acmeProblem('badNonce', 'the nonce is unknown, used or expired: take the fresh one in Replay-Nonce');
    }
    if (header.url !== requestUrl)
      throw acmeProblem('unauthorized', `the protected header's url is not this request's URL (${requestUrl})`);

    let account: AcmeAccountRecord | undefined;
    let jwk: JsonWebKey;
    if (header.kid !== undefined) {
      const id = urls.accountIdOf(header.kid);
      const found = id ? await this.deps.store.acme.getAccount(id) : null;
      if (!found || found.profile !== urls.profile) throw acmeProblem('accountDoesNotExist', 'no account of this directory has that kid');
      if (found.status !== 'valid') throw acmeProblem('unauthorized', `the account is ${found.status}`);
      account = found;
      jwk = found.jwk;
    } else {
      jwk = header.jwk!;
    }
    this.verify(jws, jwk);
    return { jws, payload: parsePayload(jws.payloadText), jwk, account };
  }

  private verify(jws: ParsedJws, jwk: JsonWebKey): void {
    let ok: boolean;
    try {
      ok = verifyJwsSignature(jws, jwk);
    } catch (err) {
      if (err instanceof JwsError) throw jwsProblem(err);
      throw err;
    }
    // RFC 8555 has no badSignature type: a signature that does not verify is a malformed request.
    if (!ok) throw acmeProblem('malformed', 'the JWS signature does not verify');
  }

  // ---- accounts (RFC 8555 7.3) -----------------------------------------------------------------

  /** new-account: the existing account of this key (`created` false), or a new one; EAB bound in the same transaction. */
  async newAccount(
    req: AcmeRequest,
    urls: AcmeUrls,
    profile: Profile,
    source: string | null,
  ): Promise<{ account: AcmeAccountRecord; created: boolean }> {
    const payload = isRecord(req.payload) ? req.payload : null;
    if (!payload) throw acmeProblem('malformed', 'the new-account payload is a JSON object');
    const thumbprint = this.thumbprint(req.jwk);
    const existing = await this.deps.store.acme.findAccountByThumbprint(profile.name, thumbprint);
    // RFC 8555 7.3.6: a deactivated account's key authorizes nothing more, not even finding the account.
    if (existing && existing.status !== 'valid') throw acmeProblem('unauthorized', `the account of this key is ${existing.status}`);
    if (existing) return { account: existing, created: false };
    if (payload.onlyReturnExisting === true) throw acmeProblem('accountDoesNotExist', 'no account has this key');
    const contact = checkContact(payload.contact);
    const eab = payload.externalAccountBinding;
    if (eab === undefined && profile.policy.acme?.requireEab) {
      throw acmeProblem(
        'externalAccountRequired',
        `profile "${profile.name}" needs an External Account Binding: ask the operator for a key id and HMAC key`,
      );
    }
    const binder = eab !== undefined ? this.deps.eab() : undefined;
    if (eab !== undefined && !binder) throw acmeProblem('unauthorized', 'External Account Binding is not available on this server');
    const id = randomUUID();
    const account = await this.deps.store
      .transaction(async (tx) => {
        const binding = binder
          ? await binder.bind(
              tx,
              { eab, accountJwk: req.jwk, url: urls.newAccount(), profile: profile.name, accountId: id },
              this.deps.now(),
            )
          : null;
        const inserted = await tx.acme.insertAccount({
          id,
          profile: profile.name,
          jwk: publicJwk(req.jwk),
          thumbprint,
          status: 'valid',
          contact,
          eabKeyId: binding?.keyId ?? null,
          limits: binding?.limits ?? null,
        });
        // A concurrent new-account with the same key won: roll back (the binding too) and answer with it.
        if (!inserted) throw new AccountRace();
        await tx.appendAudit({
          ...audit(acmeActor(id, source)),
          action: 'acme.account.create',
          target: id,
          outcome: 'success',
          details: { profile: profile.name, thumbprint, eabKeyId: binding?.keyId ?? null },
        });
        return inserted;
      })
      .catch(async (err) => {
        if (!(err instanceof AccountRace)) throw err;
        return null;
      });
    if (account) return { account, created: true };
    const winner = await this.deps.store.acme.findAccountByThumbprint(profile.name, thumbprint);
    if (!winner) throw acmeProblem('serverInternal', 'the account could not be created; retry');
    return { account: winner, created: false };
  }

  private thumbprint(jwk: JsonWebKey): string {
    try {
      return jwkThumbprint(jwk);
    } catch (err) {
      if (err instanceof JwsError) throw jwsProblem(err);
      throw err;
    }
  }

  /** POST to the account URL: POST-as-GET reads it; `contact` updates it; `status: deactivated` ends it. */
  async updateAccount(req: AcmeRequest, accountId: string, source: string | null): Promise<AcmeAccountRecord> {
    const account = this.ownAccount(req, accountId);
    if (req.payload === null) return account;
    if (!isRecord(req.payload)) throw acmeProblem('malformed', 'the account update is a JSON object');
    const { status, contact } = req.payload;
    if (status !== undefined && status !== 'deactivated')
      throw acmeProblem('malformed', 'the only status a client may set is "deactivated"');
    const patch: Partial<Pick<AcmeAccountRecord, 'status' | 'contact'>> = {};
    if (contact !== undefined) patch.contact = checkContact(contact);
    if (status === 'deactivated') patch.status = 'deactivated';
    if (!Object.keys(patch).length) return account;
    return this.deps.store.transaction(async (tx) => {
      const updated = await tx.acme.updateAccount(account.id, patch);
      if (!updated) throw notFound('account');
      await tx.appendAudit({
        ...audit(acmeActor(account.id, source)),
        action: patch.status ? 'acme.account.deactivate' : 'acme.account.update',
        target: account.id,
        outcome: 'success',
        details: patch.contact ? { contacts: patch.contact.length } : undefined,
      });
      return updated;
    });
  }

  /** The account's orders list (RFC 8555 7.1.2.1), newest first; the first 1000 (no paging). */
  async orderIds(req: AcmeRequest, accountId: string): Promise<string[]> {
    return this.deps.store.acme.listOrderIds(this.ownAccount(req, accountId).id, 1000);
  }

  private ownAccount(req: AcmeRequest, accountId: string): AcmeAccountRecord {
    if (!req.account || req.account.id !== accountId.toLowerCase())
      throw acmeProblem('unauthorized', 'a request about an account is signed by that account');
    return req.account;
  }

  /** key-change (RFC 8555 7.3.5): the payload is a JWS by the new key over {account, oldKey}. */
  async changeKey(req: AcmeRequest, urls: AcmeUrls, source: string | null): Promise<AcmeAccountRecord> {
    const account = req.account!;
    let inner: ParsedJws;
    try {
      inner = parseFlattenedJws(req.payload);
    } catch (err) {
      if (err instanceof JwsError) throw jwsProblem(err);
      throw err;
    }
    const newKey = inner.protected.jwk;
    if (!isRecord(newKey) || inner.protected.kid !== undefined)
      throw acmeProblem('malformed', 'the inner JWS carries the new key as "jwk"');
    if (inner.protected.url !== req.jws.protected.url) throw acmeProblem('malformed', 'the inner JWS url differs from the outer one');
    this.verify(inner, newKey);
    const payload = parsePayload(inner.payloadText);
    if (!isRecord(payload) || typeof payload.account !== 'string' || !isRecord(payload.oldKey)) {
      throw acmeProblem('malformed', 'the inner payload is {"account": <account URL>, "oldKey": <JWK>}');
    }
    if (payload.account !== urls.account(account.id)) throw acmeProblem('unauthorized', 'the inner payload names another account');
    if (this.thumbprint(payload.oldKey as JsonWebKey) !== account.thumbprint)
      throw acmeProblem('unauthorized', 'oldKey is not the account key');
    const thumbprint = this.thumbprint(newKey);
    const holder = await this.deps.store.acme.findAccountByThumbprint(account.profile, thumbprint);
    if (holder) {
      throw new AcmeProblemWithExtras('malformed', 'the new key belongs to an account already', {
        status: 409,
        location: urls.account(holder.id),
      });
    }
    return this.deps.store.transaction(async (tx) => {
      const updated = await tx.acme.replaceAccountKey(account.id, publicJwk(newKey), thumbprint);
      if (!updated) throw acmeProblem('malformed', 'the new key belongs to an account already', { status: 409 });
      await tx.appendAudit({
        ...audit(acmeActor(account.id, source)),
        action: 'acme.account.key-change',
        target: account.id,
        outcome: 'success',
        details: { from: account.thumbprint, to: thumbprint },
      });
      return updated;
    });
  }

  // ---- orders, authorizations, challenges (RFC 8555 7.4, 7.5) ------------------------------

  async newOrder(req: AcmeRequest, profile: Profile, source: string | null): Promise<AcmeOrderRecord> {
    const account = req.account!;
    const payload = isRecord(req.payload) ? req.payload : null;
    if (!payload || !Array.isArray(payload.identifiers) || payload.identifiers.length === 0) {
      throw acmeProblem('malformed', 'a new order names its identifiers: {"identifiers": [{"type": "dns", "value": "..."}]}');
    }
    if (payload.identifiers.length > MAX_IDENTIFIERS) throw acmeProblem('rejectedIdentifier', `at most ${MAX_IDENTIFIERS} identifiers`);
    const identifiers = this.checkIdentifiers(payload.identifiers, profile, account.limits);
    const notBefore = optionalDate(payload.notBefore, 'notBefore');
    const notAfter = optionalDate(payload.notAfter, 'notAfter');
    if (notBefore) throw acmeProblem('malformed', 'notBefore is not supported: certificates start when they are issued');
    const now = this.deps.now();
    if (notAfter && (notAfter <= now || (notAfter.getTime() - now.getTime()) / 1000 > profile.policy.maxTtl)) {
      throw acmeProblem('malformed', `notAfter must lie within the profile's maximum lifetime (${profile.policy.maxTtl} s)`);
    }
    await this.checkRateLimits(account, profile, identifiers, now);

    const expires = new Date(now.getTime() + ORDER_LIFETIME_MS);
    const offered = profile.policy.acme?.challenges ?? [];
    return this.deps.store.transaction(async (tx) => {
      const order = await tx.acme.insertOrder({
        accountId: account.id,
        profile: profile.name,
        identifiers,
        expires,
        notBefore: null,
        notAfter,
        authorizations: identifiers.map((id) => {
          const wildcard = id.type === 'dns' && id.value.startsWith('*.');
          const challenges = challengeTypesFor(id, wildcard, offered).map((type) => ({ type, token: base64urlEncode(randomBytes(32)) }));
          if (!challenges.length) {
            throw acmeProblem('rejectedIdentifier', `no challenge profile "${profile.name}" offers can validate ${id.value}`, {
              subproblems: [{ type: 'rejectedIdentifier', detail: 'no usable challenge type', identifier: id }],
            });
          }
          return { identifier: wildcard ? { type: 'dns', value: id.value.slice(2) } : id, wildcard, expires, challenges };
        }),
      });
      await tx.appendAudit({
        ...audit(acmeActor(account.id, source)),
        action: 'acme.order.create',
        target: order.id,
        outcome: 'success',
        details: { profile: profile.name, identifiers: identifiers.map((i) => i.value) },
      });
      return order;
    });
  }

  /** Identifiers as the profile and the account's binding allow them (the API's own name checks), normalised. */
  private checkIdentifiers(raw: unknown[], profile: Profile, limits: TokenLimits | null): AcmeIdentifier[] {
    const out: AcmeIdentifier[] = [];
    for (const item of raw) {
      if (!isRecord(item) || typeof item.value !== 'string' || typeof item.type !== 'string') {
        throw acmeProblem('malformed', 'an identifier is {"type": "dns" | "ip", "value": "..."}');
      }
      if (item.type !== 'dns' && item.type !== 'ip') {
        throw acmeProblem('unsupportedIdentifier', `identifier type "${item.type.slice(0, 16)}" is not supported (dns, ip)`);
      }
      if (!profile.policy.sanTypes.includes(item.type)) {
        throw acmeProblem('rejectedIdentifier', `profile "${profile.name}" does not issue for ${item.type} identifiers`, {
          subproblems: [
            { type: 'rejectedIdentifier', detail: 'type not allowed', identifier: { type: item.type, value: item.value.slice(0, 253) } },
          ],
        });
      }
      out.push({ type: item.type, value: item.value });
    }
    let sans: Sans;
    try {
      checkTokenProfile(limits, profile.name, 'eab');
      sans = checkNames(profile, identifierSans(out));
      checkTokenSans(limits, sans, undefined, 'eab');
    } catch (err) {
      if (err instanceof CaError) throw acmeProblem('rejectedIdentifier', err.message, { code: err.code });
      throw err;
    }
    const normalised: AcmeIdentifier[] = [
      ...sans.dns.map((value) => ({ type: 'dns' as const, value })),
      ...sans.ip.map((value) => ({ type: 'ip' as const, value })),
    ];
    const unique = new Map(normalised.map((id) => [identifierKey(id), id]));
    return [...unique.values()];
  }

  private async checkRateLimits(account: AcmeAccountRecord, profile: Profile, identifiers: AcmeIdentifier[], now: Date): Promise<void> {
    const { ordersPerAccountPerHour, certificatesPerNamePerWeek } = this.deps.limits;
    const store = this.deps.store.acme;
    if (ordersPerAccountPerHour > 0) {
      const recent = await store.countOrdersSince(account.id, new Date(now.getTime() - 3600_000));
      if (recent >= ordersPerAccountPerHour) {
        throw acmeProblem('rateLimited', `this account may create ${ordersPerAccountPerHour} orders an hour`, { retryAfterSeconds: 3600 });
      }
    }
    if (certificatesPerNamePerWeek > 0) {
      for (const id of identifiers) {
        const issued = await store.countIssuedForName(profile.name, id.value, new Date(now.getTime() - 7 * 86_400_000));
        if (issued >= certificatesPerNamePerWeek) {
          throw acmeProblem('rateLimited', `${id.value} had ${certificatesPerNamePerWeek} certificates this week`, {
            retryAfterSeconds: 86_400,
          });
        }
      }
    }
  }

  /** An order of the requesting account (POST-as-GET), with an expired pending order shown invalid. */
  async order(req: AcmeRequest, orderId: string): Promise<AcmeOrderRecord> {
    const order = UUID.test(orderId) ? await this.deps.store.acme.getOrder(orderId) : null;
    if (!order || order.accountId !== req.account!.id) throw notFound('order');
    if ((order.status === 'pending' || order.status === 'ready') && order.expires <= this.deps.now()) {
      return (await this.deps.store.acme.updateOrder(order.id, ['pending', 'ready'], { status: 'invalid' })) ?? order;
    }
    return order;
  }

  async authorization(req: AcmeRequest, authzId: string): Promise<AcmeAuthorizationRecord> {
    const authz = UUID.test(authzId) ? await this.deps.store.acme.getAuthorization(authzId) : null;
    if (!authz || authz.accountId !== req.account!.id) throw notFound('authorization');
    if (isRecord(req.payload) && req.payload.status === 'deactivated') {
      return (await this.deps.store.acme.updateAuthorization(authz.id, ['pending', 'valid'], 'deactivated')) ?? authz;
    }
    return authz;
  }

  /**
   * POST to a challenge: `{}` starts its validation (status processing, the validator runs in the
   * background, then valid or invalid with the authorization and order after it); POST-as-GET reads it.
   */
  async challenge(
    req: AcmeRequest,
    challengeId: string,
    validate: ChallengeValidator,
    source: string | null,
  ): Promise<{ challenge: AcmeChallengeRecord; authorization: AcmeAuthorizationRecord }> {
    const store = this.deps.store.acme;
    const challenge = UUID.test(challengeId) ? await store.getChallenge(challengeId) : null;
    const authz = challenge ? await store.getAuthorization(challenge.authorizationId) : null;
    if (!challenge || !authz || authz.accountId !== req.account!.id) throw notFound('challenge');
    if (req.payload === null || challenge.status !== 'pending') return { challenge, authorization: authz };
    if (!isRecord(req.payload)) throw acmeProblem('malformed', 'a challenge response is {}');
    if (authz.status !== 'pending') throw acmeProblem('malformed', `the authorization is ${authz.status}`, { status: 400 });
    const started = await store.updateChallenge(challenge.id, ['pending'], { status: 'processing' });
    if (!started) return { challenge: (await store.getChallenge(challenge.id)) ?? challenge, authorization: authz };
    const account = req.account!;
    const run = this.runValidation(started, authz, account, validate, source).finally(() => this.running.delete(run));
    this.running.add(run);
    return { challenge: started, authorization: authz };
  }

  /** Resolves once every background validation started so far has finished. */
  async settled(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private async runValidation(
    challenge: AcmeChallengeRecord,
    authz: AcmeAuthorizationRecord,
    account: AcmeAccountRecord,
    validate: ChallengeValidator,
    source: string | null,
  ): Promise<void> {
    let problem: AcmeProblem | null = null;
    try {
      await validate({
        type: challenge.type,
        identifier: authz.identifier,
        token: challenge.token,
        keyAuthorization: `${challenge.token}.${account.thumbprint}`,
      });
    } catch (err) {
      problem = err instanceof AcmeProblem ? err : acmeProblem('serverInternal', 'the validation failed unexpectedly');
    }
    try {
      await this.recordValidation(challenge, authz, account, problem, source);
    } catch {
      // The database went away mid-validation: the challenge stays processing; the order expires with it.
    }
  }

  private async recordValidation(
    challenge: AcmeChallengeRecord,
    authz: AcmeAuthorizationRecord,
    account: AcmeAccountRecord,
    problem: AcmeProblem | null,
    source: string | null,
  ): Promise<void> {
    const now = this.deps.now();
    await this.deps.store.transaction(async (tx) => {
      const error = problem ? { ...problem.toJSON(), subproblems: undefined, identifier: authz.identifier } : null;
      await tx.acme.updateChallenge(
        challenge.id,
        ['processing'],
        problem ? { status: 'invalid', error } : { status: 'valid', validated: now },
      );
      await tx.acme.updateAuthorization(authz.id, ['pending'], problem ? 'invalid' : 'valid');
      if (problem) {
        await tx.acme.updateOrder(authz.orderId, ['pending'], { status: 'invalid', error });
      } else {
        const all = await tx.acme.listAuthorizations(authz.orderId);
        if (all.every((a) => a.status === 'valid')) await tx.acme.updateOrder(authz.orderId, ['pending'], { status: 'ready' });
      }
      await tx.appendAudit({
        ...audit(acmeActor(account.id, source)),
        action: 'acme.challenge.validate',
        target: challenge.id,
        outcome: problem ? 'failure' : 'success',
        details: {
          order: authz.orderId,
          type: challenge.type,
          identifier: authz.identifier.value,
          ...(problem ? { error: problem.type, reason: problem.detail } : {}),
        },
      });
    });
  }

  // ---- finalize, certificate, revocation (RFC 8555 7.4, 7.4.2, 7.6) --------------------------

  /** finalize: the CSR must name exactly the order's identifiers; issued by the authority under the account's limits. */
  async finalize(req: AcmeRequest, orderId: string, source: string | null): Promise<AcmeOrderRecord> {
    const order = await this.order(req, orderId);
    if (order.status !== 'ready') {
      if (order.status === 'processing' || order.status === 'valid') return order;
      throw acmeProblem('orderNotReady', `the order is ${order.status}, not ready`);
    }
    const payload = isRecord(req.payload) ? req.payload : null;
    if (!payload || typeof payload.csr !== 'string') throw acmeProblem('malformed', 'finalize carries {"csr": <base64url DER>}');
    let der: Buffer;
    try {
      der = base64urlDecode(payload.csr);
    } catch {
      throw acmeProblem('badCSR', 'the csr is not base64url DER');
    }
    this.checkCsrNames(der, order);
    const account = req.account!;
    const processing = await this.deps.store.acme.updateOrder(order.id, ['ready'], { status: 'processing' });
    if (!processing) return this.order(req, orderId);
    const actor = acmeActor(account.id, source);
    try {
      const issued = await this.deps.authority.issue(
        {
          profile: order.profile,
          csr: toPem(der, 'CERTIFICATE REQUEST'),
          idempotencyKey: `acme-order:${order.id}`,
          tokenLimits: account.limits,
          limitsHolder: 'eab',
          ...(order.notAfter ? { ttl: Math.max(60, Math.floor((order.notAfter.getTime() - this.deps.now().getTime()) / 1000)) } : {}),
        },
        actor,
      );
      return await this.deps.store.transaction(async (tx) => {
        const done = await tx.acme.updateOrder(order.id, ['processing'], { status: 'valid', certificateId: issued.record.id });
        await tx.appendAudit({
          ...audit(actor),
          action: 'acme.order.finalize',
          target: order.id,
          outcome: 'success',
          details: { certificate: issued.record.id, serial: issued.record.serial },
        });
        return done ?? processing;
      });
    } catch (err) {
      const problem = err instanceof AcmeProblem ? err : err instanceof CaError ? fromCaError(err) : null;
      if (!problem) throw err;
      // A refusal ends the order; an outage (503) leaves it ready for the client's retry (the idempotency key makes that safe).
      const after = problem.status >= 500 ? { status: 'ready' as const } : { status: 'invalid' as const, error: problem.toJSON() };
      await this.deps.store.acme.updateOrder(order.id, ['processing'], after).catch(() => {});
      throw problem;
    }
  }

  /** badCSR unless the CSR verifies and its SANs (and a CN, if any) are exactly the order's identifiers. */
  private checkCsrNames(der: Uint8Array, order: AcmeOrderRecord): void {
    let csr: ReturnType<typeof parseAndVerifyCsr>;
    try {
      csr = parseAndVerifyCsr(der);
    } catch (err) {
      throw acmeProblem('badCSR', `the CSR is not a valid, signed PKCS#10 request: ${(err as Error).message}`);
    }
    const want = new Set(order.identifiers.map(identifierKey));
    const sans = csr.requestedSans;
    if (sans.uri.length || sans.email.length) throw acmeProblem('badCSR', "the CSR may name only the order's DNS and IP identifiers");
    const got = new Set([...sans.dns.map((v) => `dns:${v.toLowerCase()}`), ...sans.ip.map((v) => `ip:${v.toLowerCase()}`)]);
    const cn = csr.subject.CN;
    const same = got.size === want.size && [...want].every((k) => got.has(k));
    if (!same)
      throw acmeProblem(
        'badCSR',
        `the CSR's names must be exactly the order's identifiers (${order.identifiers.map((i) => i.value).join(', ')})`,
      );
    if (cn !== undefined && !want.has(`dns:${cn.toLowerCase()}`) && !want.has(`ip:${cn}`)) {
      throw acmeProblem('badCSR', `the CSR's CN "${cn.slice(0, 64)}" is not one of the order's identifiers`);
    }
  }

  /** The PEM chain (leaf then intermediates) of a certificate the account's order issued. */
  async certificatePem(req: AcmeRequest, certificateId: string): Promise<string> {
    const order = UUID.test(certificateId) ? await this.deps.store.acme.findOrderByCertificate(certificateId) : null;
    const record = order && order.accountId === req.account!.id ? await this.deps.store.getCertificate(certificateId) : null;
    if (!record) throw notFound('certificate');
    return this.deps.authority.pemsOf(record).fullchain;
  }

  /** revoke-cert: by the account whose order issued it (kid), or by the certificate's own key (jwk). */
  async revoke(req: AcmeRequest, source: string | null): Promise<void> {
    const payload = isRecord(req.payload) ? req.payload : null;
    if (!payload || typeof payload.certificate !== 'string')
      throw acmeProblem('malformed', 'revoke-cert carries {"certificate": <base64url DER>}');
    const reason = revocationReason(payload.reason);
    let der: Buffer;
    let facts: ReturnType<typeof certificateFacts>;
    try {
      der = base64urlDecode(payload.certificate);
      facts = certificateFacts(der);
    } catch {
      throw acmeProblem('malformed', 'the certificate is not base64url DER of a certificate');
    }
    const record = await this.findIssued(der, facts.serialHex);
    if (!record) throw acmeProblem('malformed', 'this server did not issue that certificate', { status: 404 });
    let actor: Actor;
    if (req.account) {
      const order = await this.deps.store.acme.findOrderByCertificate(record.id);
      if (!order || order.accountId !== req.account.id) throw acmeProblem('unauthorized', 'this account did not order that certificate');
      actor = acmeActor(req.account.id, source);
    } else {
      let spki: Buffer;
      try {
        spki = jwkToSpkiDer(req.jwk);
      } catch (err) {
        if (err instanceof JwsError) throw jwsProblem(err);
        throw err;
      }
      if (!spki.equals(Buffer.from(facts.spki)))
        throw acmeProblem('unauthorized', "the request is signed neither by the ordering account nor by the certificate's key");
      actor = { id: `acme-certificate-key:${record.id}`, name: 'ACME revocation by certificate key', source };
    }
    if (record.status === 'revoked') throw acmeProblem('alreadyRevoked', 'the certificate is revoked already');
    const outcome = await this.deps.authority.revoke(record.id, reason, actor).catch((err) => {
      throw err instanceof CaError ? fromCaError(err) : err;
    });
    if (!outcome.changed) throw acmeProblem('alreadyRevoked', 'the certificate is revoked already');
  }

  /** The record of a certificate this Anvil issued with exactly these bytes (serial under one of its issuers, same DER). */
  private async findIssued(der: Uint8Array, serialHex: string): Promise<CertificateRecord | null> {
    for (const issuer of this.deps.authority.issuers()) {
      const record = await this.deps.store.getCertificateBySerial(issuer.record.id, serialHex);
      if (record && Buffer.from(record.der).equals(Buffer.from(der))) return record;
    }
    return null;
  }
}

class AccountRace extends Error {}

/** The public members of a JWK only (what is stored and hashed). */
function publicJwk(jwk: JsonWebKey): JsonWebKey {
  const { kty, crv, x, y, n, e } = jwk;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)) as JsonWebKey;
}

/** `mailto:` contacts only (RFC 8555 7.3); at most 10. */
function checkContact(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > 10) throw acmeProblem('invalidContact', 'contact is a list of at most 10 mailto: URLs');
  return raw.map((c) => {
    if (typeof c !== 'string') throw acmeProblem('invalidContact', 'a contact is a mailto: URL');
    if (!c.startsWith('mailto:')) throw acmeProblem('unsupportedContact', `only mailto: contacts are supported (${c.slice(0, 32)})`);
    if (!/^mailto:[^\s@,?]+@[A-Za-z0-9.-]+$/.test(c) || c.length > 254)
      throw acmeProblem('invalidContact', `"${c.slice(0, 64)}" is not a mailto: address`);
    return c;
  });
}

function optionalDate(raw: unknown, field: string): Date | null {
  if (raw === undefined) return null;
  const date = typeof raw === 'string' ? new Date(raw) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw acmeProblem('malformed', `${field} is an RFC 3339 date`);
  return date;
}

function revocationReason(raw: unknown): RevocationReason {
  if (raw === undefined) return 'unspecified';
  const name = (Object.keys(REVOCATION_REASON_CODES) as RevocationReason[]).find((r) => REVOCATION_REASON_CODES[r] === raw);
  if (!name || !ACME_REVOCATION_REASONS.has(name)) {
    throw acmeProblem('badRevocationReason', `reason ${String(raw).slice(0, 8)} is not one a client may give (0, 1, 3, 4, 5, 9)`);
  }
  return name;
}

/** The challenge types that can prove an identifier: dns-01 alone for wildcards, never dns-01 for IPs (RFC 8738). */
function challengeTypesFor(id: AcmeIdentifier, wildcard: boolean, offered: readonly AcmeChallengeType[]): AcmeChallengeType[] {
  return offered.filter((type) => (wildcard ? type === 'dns-01' : id.type === 'ip' ? type !== 'dns-01' : true));
}
