/**
 * ACME External Account Binding (RFC 8555 7.3.4): an operator creates a credential (key id + HMAC
 * key) bound to the same limits a scoped API token carries (profiles, SAN patterns, fixed subject;
 * token-limits.ts), and an ACME client proves it holds the HMAC key when it creates its account.
 * The account then issues under those limits only (the ACME service passes them to
 * `authority.issue` as `tokenLimits`), so an account can never get names outside them.
 *
 * The HMAC key is shown once and stored encrypted under the key-encryption key (the context binds
 * the blob to its key id, so a blob copied onto another row does not decrypt). A credential binds
 * one account, once: the conditional UPDATE that marks it bound runs in the new-account
 * transaction, so two concurrent new-account requests with the same credential cannot both win.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { JwsError, jwkThumbprint, parseFlattenedJws } from '@anvil/pki';
import { type Actor, audit } from '../audit.ts';
import { CaError, invalid, notFound } from '../errors.ts';
import type { KeyEncryptionKey } from '../key-custody.ts';
import type { Store, StoreTx } from '../store.ts';
import type { TokenLimits } from '../token-limits.ts';
import { checkScopedToken } from '../tokens.ts';
import { acmeProblem } from './problems.ts';

/** One EAB credential as stored; the HMAC key only as its encrypted blob. */
export interface EabCredentialRecord {
  keyId: string;
  name: string;
  encryptedHmacKey: Uint8Array;
  limits: TokenLimits;
  expiresAt: Date | null;
  createdBy: string;
  createdAt: Date;
  revokedAt: Date | null;
  boundAt: Date | null;
  /** The ACME account the credential was bound to. */
  accountId: string | null;
}

/** What the API and the console show of a credential (never the key). */
export type EabCredentialInfo = Omit<EabCredentialRecord, 'encryptedHmacKey'> & { status: 'unused' | 'bound' | 'revoked' | 'expired' };

/** The storage EAB needs, reached as `tx.acmeEab` (db/src/acme-eab-store.ts). */
export interface AcmeEabStoreTx {
  insertEabCredential(c: Omit<EabCredentialRecord, 'createdAt' | 'revokedAt' | 'boundAt' | 'accountId'>): Promise<EabCredentialRecord>;
  getEabCredential(keyId: string): Promise<EabCredentialRecord | null>;
  listEabCredentials(): Promise<EabCredentialRecord[]>;
  /** Marks an unbound, unrevoked credential unexpired at `at` bound to `accountId`; false (nothing written) otherwise. */
  bindEabCredential(keyId: string, accountId: string, at: Date): Promise<boolean>;
  /** Revokes a credential not yet revoked; null when there is none or it already was. */
  revokeEabCredential(keyId: string, at: Date): Promise<EabCredentialRecord | null>;
}

export interface EabBinding {
  keyId: string;
  limits: TokenLimits;
}

/** What POST /api/v1/acme/eab asks for: a token's limits, profiles required (an ACME directory is per profile). */
export interface EabCreateParams {
  name: string;
  profiles: string[];
  sanPatterns?: string[];
  subject?: TokenLimits['subject'];
  expiresAt?: string | Date;
}

export interface BindParams {
  /** The `externalAccountBinding` member of the new-account payload: a flattened HS256 JWS. */
  eab: unknown;
  accountJwk: JsonWebKey;
  /** The new-account URL, which the EAB JWS's `url` must equal. */
  url: string;
  profile: string;
  accountId: string;
}

const encryptionContext = (keyId: string) => `acme-eab:${keyId}`;

/** 16 random bytes: what clients put in `kid`; unguessable, though the HMAC key is what proves possession. */
const newKeyId = () => randomBytes(16).toString('base64url');

export function eabStatus(c: EabCredentialRecord, now: Date): EabCredentialInfo['status'] {
  if (c.revokedAt) return 'revoked';
  if (c.boundAt) return 'bound';
  if (c.expiresAt && c.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'unused';
}

export class AcmeEab {
  constructor(
    private readonly deps: {
      store: Store;
      /** null: EAB credentials cannot be made or checked (the authority was built without the KEK). */
      kek: KeyEncryptionKey | null;
      now: () => Date;
      profileExists: (name: string) => Promise<boolean>;
    },
  ) {}

  /** Creates a credential (422 on bad input, nothing stored), audited; the HMAC key is returned this once. */
  async create(params: EabCreateParams, actor: Actor): Promise<{ keyId: string; hmacKey: string; credential: EabCredentialInfo }> {
    const kek = this.kek();
    if (!Array.isArray(params.profiles) || params.profiles.length === 0)
      throw invalid('invalid_token_limits', 'profiles is a non-empty list of profile names: an ACME account issues under a profile');
    // The same checks (and codes) as a scoped token's: name, limits, profiles that exist, expiry in the future.
    const checked = await checkScopedToken(
      {
        name: params.name,
        scopes: ['certificates:issue'],
        profiles: params.profiles,
        sanPatterns: params.sanPatterns,
        subject: params.subject,
        expiresAt: params.expiresAt,
      },
      this.deps.now(),
      this.deps.profileExists,
    );
    const keyId = newKeyId();
    const hmac = randomBytes(32);
    const row = await this.deps.store.transaction(async (tx) => {
      const inserted = await tx.acmeEab.insertEabCredential({
        keyId,
        name: checked.name,
        encryptedHmacKey: kek.encrypt(hmac, encryptionContext(keyId)),
        limits: checked.limits!,
        expiresAt: checked.expiresAt,
        createdBy: audit(actor).actor,
      });
      await tx.appendAudit({
        ...audit(actor),
        action: 'acme.eab.create',
        target: keyId,
        outcome: 'success',
        details: { name: checked.name, limits: checked.limits, expiresAt: checked.expiresAt?.toISOString() ?? null },
      });
      return inserted;
    });
    return { keyId, hmacKey: hmac.toString('base64url'), credential: this.info(row) };
  }

  async list(): Promise<EabCredentialInfo[]> {
    return (await this.deps.store.acmeEab.listEabCredentials()).map((c) => this.info(c));
  }

  async get(keyId: string): Promise<EabCredentialInfo> {
    const row = await this.deps.store.acmeEab.getEabCredential(keyId);
    if (!row) throw notFound('eab_not_found', 'there is no EAB credential with that key id');
    return this.info(row);
  }

  /**
   * Revokes a credential, audited (only when this call revoked it). An account already bound keeps
   * working: revoking stops new bindings; deactivate the account to stop it (RFC 8555 7.3.6).
   */
  revoke(keyId: string, actor: Actor): Promise<EabCredentialInfo> {
    return this.deps.store.transaction(async (tx) => {
      const existing = await tx.acmeEab.getEabCredential(keyId);
      if (!existing) throw notFound('eab_not_found', 'there is no EAB credential with that key id');
      if (existing.revokedAt) return this.info(existing);
      const row = await tx.acmeEab.revokeEabCredential(keyId, this.deps.now());
      if (!row) return this.info((await tx.acmeEab.getEabCredential(keyId))!);
      await tx.appendAudit({ ...audit(actor), action: 'acme.eab.revoke', target: keyId, outcome: 'success', details: { name: row.name } });
      return this.info(row);
    });
  }

  /**
   * Checks the externalAccountBinding of a new-account request and binds the credential to the
   * account, inside the caller's transaction (with its audit row). Throws AcmeProblem:
   * `malformed` for a JWS that is not one, `unauthorized` for every refusal of the credential
   * (unknown, wrong MAC, revoked, expired, already bound, other profile) — one type, so a client
   * learns nothing about which key ids exist beyond what its MAC proves.
   */
  async bind(tx: StoreTx, params: BindParams, now: Date): Promise<EabBinding> {
    const kek = this.kek();
    const jws = readEabJws(params);
    const keyId = jws.protected.kid as string;
    const row = await tx.acmeEab.getEabCredential(keyId);
    const refused = (why: string) => acmeProblem('unauthorized', `the external account binding is refused: ${why}`);
    if (!row) throw refused('unknown key id or wrong MAC');
    let hmacKey: Buffer;
    try {
      hmacKey = Buffer.from(kek.decrypt(row.encryptedHmacKey, encryptionContext(row.keyId)));
    } catch {
      // A blob that does not decrypt is a server-side fault, but says nothing to the client.
      throw new CaError('unavailable', 'eab_key_unreadable', 'the EAB credential cannot be read with this key-encryption key');
    }
    if (!macMatches(hmacKey, jws.signingInput, jws.signature)) throw refused('unknown key id or wrong MAC');
    const status = eabStatus(row, now);
    if (status !== 'unused') throw refused(`the credential is ${status === 'bound' ? 'already bound to an account' : status}`);
    if (row.limits.profiles && !row.limits.profiles.includes(params.profile))
      throw refused(`the credential does not cover profile "${params.profile.slice(0, 64)}"`);
    // The conditional UPDATE decides between concurrent binds of one credential.
    if (!(await tx.acmeEab.bindEabCredential(keyId, params.accountId, now))) throw refused('the credential is already bound to an account');
    const actor: Actor = { id: `acme:${params.accountId}`, name: `ACME account ${params.accountId}`, source: null };
    await tx.appendAudit({
      ...audit(actor),
      action: 'acme.eab.bind',
      target: keyId,
      outcome: 'success',
      details: { name: row.name, account: params.accountId, profile: params.profile },
    });
    return { keyId, limits: row.limits };
  }

  private kek(): KeyEncryptionKey {
    if (!this.deps.kek) throw new CaError('unavailable', 'eab_unavailable', 'External Account Binding needs the key-encryption key');
    return this.deps.kek;
  }

  private info(c: EabCredentialRecord): EabCredentialInfo {
    const { encryptedHmacKey: _key, ...rest } = c;
    return { ...rest, status: eabStatus(c, this.deps.now()) };
  }
}

/** The EAB JWS's shape (RFC 8555 7.3.4): HS256, a kid, the new-account url, no nonce, the account key as payload. */
function readEabJws(params: BindParams) {
  const malformed = (why: string) => acmeProblem('malformed', `externalAccountBinding: ${why}`);
  let jws: ReturnType<typeof parseFlattenedJws>;
  try {
    jws = parseFlattenedJws(params.eab, { algorithms: ['HS256'] });
  } catch (err) {
    if (err instanceof JwsError) throw malformed(err.message);
    throw err;
  }
  const h = jws.protected;
  if (typeof h.kid !== 'string' || h.kid.length === 0 || h.kid.length > 256) throw malformed('the protected header has no "kid"');
  if (h.nonce !== undefined) throw malformed('the protected header must not carry a nonce');
  if (h.url !== params.url) throw malformed('the protected header\'s "url" is not the new-account URL');
  let payload: unknown;
  try {
    payload = JSON.parse(jws.payloadText);
  } catch {
    throw malformed('the payload is not JSON');
  }
  if (!sameKey(payload, params.accountJwk)) throw malformed('the payload is not the account key of the request');
  return jws;
}

/** Same public key: equal RFC 7638 thumbprints (the members that define the key). */
function sameKey(payload: unknown, accountJwk: JsonWebKey): boolean {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return false;
  try {
    return jwkThumbprint(payload as JsonWebKey) === jwkThumbprint(accountJwk);
  } catch {
    return false;
  }
}

function macMatches(key: Buffer, signingInput: Buffer, signature: Buffer): boolean {
  const expected = createHmac('sha256', key).update(signingInput).digest();
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}
