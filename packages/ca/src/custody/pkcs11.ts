/** CA keys on a PKCS#11 token (node-webcrypto-p11): generated there, non-extractable and sensitive, signing through the WebCrypto adapter. */
import { createPublicKey, randomBytes } from 'node:crypto';
import {
  certificateFacts,
  publicKeyFacts,
  verifyWith,
  webCryptoAlgorithms,
  WebCryptoSigner,
  type KeyAlgorithm,
  type Signer,
} from '@anvil/pki';
import * as graphene from 'graphene-pk11';
import { Crypto } from 'node-webcrypto-p11';
import { CaError } from '../errors.ts';
import type { CustodyEntry, CustodyIssuer, KeyCustody, TokenKey } from '../key-custody.ts';

/*
 * Why graphene beside node-webcrypto-p11: the latter picks a slot by index only, and operators
 * name tokens by label (slot numbers move when tokens are added). We open the module and the
 * session ourselves and hand the session to node-webcrypto-p11, which then does everything else.
 *
 * A PKCS#11 session runs one operation at a time (a second C_SignInit answers
 * CKR_OPERATION_ACTIVE), so each session has a queue, and there are a few sessions to let the
 * token work while Node prepares the next certificate. Login is per application, not per session.
 */

export interface Pkcs11Options {
  /** Path of the PKCS#11 module (.so), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** The token, by label (preferred) or by index among the slots holding a token. */
  tokenLabel?: string;
  slot?: number;
  /** The user PIN. Never logged, never put into an error. */
  pin: string;
  /** Where new issuer keys are made: on the token, or in software (token keys already made still sign). */
  generateOn: 'token' | 'software';
  /** Sessions opened on the token (default 2). */
  sessions?: number;
}

/** A token that cannot be used at start-up: the message is meant for the operator and holds no PIN. */
export class Pkcs11StartupError extends Error {}

const KEYREF_PREFIX = 'pkcs11:';

/** RFC 7512 percent-encoding of a path attribute value. */
const pct = (s: string) =>
  [...Buffer.from(s, 'utf8')]
    .map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`))
    .join('');
const unpct = (s: string) =>
  Buffer.from(
    s.replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(Number.parseInt(h, 16))),
    'latin1',
  );

export interface Pkcs11KeyRef {
  token: string;
  object: string;
  id: Buffer;
}

/** `pkcs11:token=…;object=…;id=%..` as RFC 7512 writes it (p11tool and pkcs11-tool understand it). */
export function formatKeyRef(ref: Pkcs11KeyRef): string {
  return `${KEYREF_PREFIX}token=${pct(ref.token)};object=${pct(ref.object)};id=${[...ref.id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
}

export function parseKeyRef(keyRef: string): Pkcs11KeyRef | null {
  if (!keyRef.startsWith(KEYREF_PREFIX)) return null;
  const attrs = new Map(
    keyRef
      .slice(KEYREF_PREFIX.length)
      .split(';')
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
  );
  const id = attrs.get('id');
  if (!id) return null;
  return {
    token: unpct(attrs.get('token') ?? '').toString('utf8'),
    object: unpct(attrs.get('object') ?? '').toString('utf8'),
    id: unpct(id),
  };
}

/** CKF_OS_LOCKING_OK (PKCS#11 2.40 section 5.4): the module may use the operating system's locks. */
const CKF_OS_LOCKING_OK = 0x2;

/**
 * Initialises the module so that it locks around its own state, and returns how many sessions
 * may sign at once. node-webcrypto-p11 signs on libuv's thread pool, so two sessions sign on two
 * threads at the same time. graphene's bare `initialize()` passes no arguments, which tells the
 * module the application is single-threaded: SoftHSM2 2.6 then turns its locking off, and two
 * concurrent signatures corrupted its heap (SIGSEGV or "malloc(): unaligned tcache chunk" in 2 of
 * 3 runs of 16 concurrent signers on 4 sessions). A module that cannot lock
 * (CKR_CANT_LOCK) gets one session, so its calls never overlap.
 */
function initializeWithLocking(mod: graphene.Module, sessions: number): number {
  try {
    mod.initialize({ flags: CKF_OS_LOCKING_OK });
    return sessions;
  } catch (err) {
    if (pkcs11Reason(err) !== 'CKR_CANT_LOCK') throw err;
  }
  mod.initialize();
  return 1;
}

/** The CKR_ name of a PKCS#11 failure (its message is `CKR_X:code`), or the message of anything else. */
function pkcs11Reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /^(CKR_[A-Z_]+)/.exec(message)?.[1] ?? message;
}

const hsmUnavailable = (what: string, err: unknown) =>
  new CaError('unavailable', 'hsm_unavailable', `the PKCS#11 token could not ${what} (${pkcs11Reason(err)}); retry when it is back`);

/** Failures after which a session is reopened before the next operation. */
const SESSION_LOST =
  /CKR_(SESSION_HANDLE_INVALID|SESSION_CLOSED|USER_NOT_LOGGED_IN|TOKEN_NOT_PRESENT|DEVICE_REMOVED|DEVICE_ERROR|TOKEN_NOT_RECOGNIZED)/;

class TokenSession {
  private queue: Promise<unknown> = Promise.resolve();
  private session: graphene.Session | null = null;
  crypto!: Crypto;
  private keys = new Map<string, Promise<unknown>>();
  pending = 0;

  constructor(
    private readonly slot: graphene.Slot,
    private readonly login: (session: graphene.Session) => void,
  ) {
    this.open();
  }

  private open() {
    this.session = this.slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
    this.login(this.session);
    this.crypto = new Crypto({ session: this.session });
    this.keys.clear();
  }

  /** Runs one token operation after the ones before it on this session. */
  run<T>(op: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.queue.then(async () => {
      if (!this.session) this.open();
      try {
        return await op();
      } catch (err) {
        if (SESSION_LOST.test(pkcs11Reason(err))) {
          try {
            this.session?.close();
          } catch {}
          this.session = null;
        }
        throw err;
      }
    });
    this.queue = result.then(
      () => this.pending--,
      () => this.pending--,
    );
    return result;
  }

  /** The private key's CryptoKey in this session (looked up once per session). */
  privateKey(id: Buffer, keyAlgorithm: KeyAlgorithm): Promise<unknown> {
    const hex = id.toString('hex');
    let key = this.keys.get(hex);
    if (!key) {
      key = (async () => {
        const index = (await this.crypto.keyStorage.keys()).find((k) => k.startsWith('private-') && k.endsWith(`-${hex}`));
        if (!index) throw new Error(`no private key with id ${hex} on the token`);
        return this.crypto.keyStorage.getItem(index, webCryptoAlgorithms(keyAlgorithm).key as never, false, ['sign']);
      })();
      key.catch(() => this.keys.delete(hex));
      this.keys.set(hex, key);
    }
    return key;
  }

  /** The ids of the token's public keys whose SubjectPublicKeyInfo is `spki`. */
  async publicKeyIds(spki: Uint8Array): Promise<Buffer[]> {
    const ids: Buffer[] = [];
    for (const index of await this.crypto.keyStorage.keys()) {
      if (!index.startsWith('public-')) continue;
      try {
        const key = (await this.crypto.keyStorage.getItem(index)) as unknown as { p11Object: { id: Buffer } };
        const der = new Uint8Array(await this.crypto.subtle.exportKey('spki', key as never));
        if (Buffer.from(der).equals(Buffer.from(spki))) ids.push(Buffer.from(key.p11Object.id));
      } catch {
        // A public key node-webcrypto-p11 cannot read (an unsupported curve) is not this one.
      }
    }
    return ids;
  }

  /** The label of the token's private key with this id, or null when there is none. */
  privateKeyLabel(id: Buffer): string | null {
    if (!this.session) this.open();
    const found = this.session!.find({ class: graphene.ObjectClass.PRIVATE_KEY, token: true, id });
    return found.length ? found.items(0).toType<graphene.PrivateKey>().label : null;
  }

  /** Destroys the token's private and public key objects with this id. */
  destroyKeys(id: Buffer): void {
    if (!this.session) this.open();
    for (const cls of [graphene.ObjectClass.PRIVATE_KEY, graphene.ObjectClass.PUBLIC_KEY]) {
      const found = this.session!.find({ class: cls, token: true, id });
      for (let i = 0; i < found.length; i++) found.items(i).destroy();
    }
    this.keys.delete(id.toString('hex'));
  }

  hasPrivateKey(id: Buffer): boolean {
    if (!this.session) this.open();
    return this.session!.find({ class: graphene.ObjectClass.PRIVATE_KEY, token: true, id }).length > 0;
  }

  close() {
    try {
      this.session?.close();
    } catch {}
    this.session = null;
  }
}

/**
 * KeyCustody over one PKCS#11 token. Issuers whose `key_ref` is a `pkcs11:` URI sign on the token;
 * the others (software keys, imported keys) go to the software custody beside it, so both kinds
 * coexist in one Anvil.
 */
export class Pkcs11KeyCustody implements KeyCustody {
  private readonly sessions: TokenSession[];
  private next = 0;

  private constructor(
    private readonly mod: graphene.Module,
    /** The token's label as the token reports it. */
    readonly tokenLabel: string,
    slot: graphene.Slot,
    pin: string,
    private readonly options: Pkcs11Options,
    private readonly software: KeyCustody,
  ) {
    const login = (session: graphene.Session) => {
      try {
        session.login(pin, graphene.UserType.USER);
      } catch (err) {
        // Login belongs to the application: the second session finds it done.
        if (pkcs11Reason(err) !== 'CKR_USER_ALREADY_LOGGED_IN') throw err;
      }
    };
    this.sessions = Array.from({ length: options.sessions ?? 1 }, () => new TokenSession(slot, login));
  }

  /** Loads the module, finds the token and logs in; every failure is a Pkcs11StartupError with a plain message. */
  static open(options: Pkcs11Options, software: KeyCustody): Pkcs11KeyCustody {
    let mod: graphene.Module;
    try {
      mod = graphene.Module.load(options.module, 'anvil-pkcs11');
    } catch (err) {
      throw new Pkcs11StartupError(`cannot load the PKCS#11 module ${options.module} (ANVIL_PKCS11_MODULE): ${pkcs11Reason(err)}`);
    }
    let sessions = Math.max(1, options.sessions ?? 2);
    try {
      sessions = initializeWithLocking(mod, sessions);
    } catch (err) {
      throw new Pkcs11StartupError(`the PKCS#11 module ${options.module} did not initialise: ${pkcs11Reason(err)}`);
    }
    try {
      const slots = mod.getSlots(true);
      const tokens = Array.from({ length: slots.length }, (_, i) => ({
        slot: slots.items(i),
        label: slots.items(i).getToken().label.trim(),
      }));
      const found = options.tokenLabel !== undefined ? tokens.find((t) => t.label === options.tokenLabel) : tokens[options.slot ?? 0];
      if (!found) {
        const wanted =
          options.tokenLabel !== undefined
            ? `no PKCS#11 token labelled "${options.tokenLabel}" (ANVIL_PKCS11_TOKEN_LABEL)`
            : `no PKCS#11 token in slot index ${options.slot ?? 0} (ANVIL_PKCS11_SLOT)`;
        const present = tokens.length ? tokens.map((t) => `"${t.label}"`).join(', ') : 'none';
        throw new Pkcs11StartupError(`${wanted} in ${options.module}; tokens present: ${present}`);
      }
      try {
        return new Pkcs11KeyCustody(mod, found.label, found.slot, options.pin, { ...options, sessions }, software);
      } catch (err) {
        const reason = pkcs11Reason(err);
        const hint =
          reason === 'CKR_PIN_INCORRECT'
            ? 'the PIN (ANVIL_PKCS11_PIN or ANVIL_PKCS11_PIN_FILE) is wrong'
            : reason === 'CKR_PIN_LOCKED'
              ? 'the PIN is locked; unlock it with the SO PIN'
              : 'cannot log in';
        throw new Pkcs11StartupError(`PKCS#11 token "${found.label}": ${hint} (${reason})`);
      }
    } catch (err) {
      if (err instanceof Pkcs11StartupError) {
        try {
          mod.finalize();
        } catch {}
        throw err;
      }
      throw new Pkcs11StartupError(`PKCS#11 token: ${pkcs11Reason(err)}`);
    }
  }

  private session(): TokenSession {
    // The least busy session, round-robin among equals.
    let best = this.sessions[this.next++ % this.sessions.length];
    for (const s of this.sessions) if (s.pending < best.pending) best = s;
    return best;
  }

  async generate(issuerName: string, keyAlgorithm: KeyAlgorithm): Promise<CustodyEntry & { spkiDer: Uint8Array }> {
    if (this.options.generateOn === 'software') return this.software.generate(issuerName, keyAlgorithm);
    if (keyAlgorithm === 'Ed25519') {
      // node-webcrypto-p11 has no EdDSA mechanism: refuse before anything is made.
      throw new CaError(
        'invalid',
        'unsupported_key_algorithm',
        'Ed25519 keys cannot be made on the PKCS#11 token; use EC-P256, EC-P384 or RSA',
      );
    }
    const object = `anvil-${issuerName}`;
    const session = this.sessions[0];
    try {
      return await session.run(async () => {
        const pair = (await session.crypto.subtle.generateKey(
          // token: a persistent object; sensitive and not extractable: the key never leaves the token.
          { ...webCryptoAlgorithms(keyAlgorithm).key, token: true, sensitive: true, label: object } as never,
          false,
          ['sign', 'verify'],
        )) as unknown as { privateKey: { key: { id: Buffer } }; publicKey: never };
        const spkiDer = new Uint8Array(await session.crypto.subtle.exportKey('spki', pair.publicKey));
        return {
          encryptedKey: null,
          keyRef: formatKeyRef({ token: this.tokenLabel, object, id: Buffer.from(pair.privateKey.key.id) }),
          spkiDer,
        };
      });
    } catch (err) {
      throw hsmUnavailable('generate a key', err);
    }
  }

  /**
   * Finds the token's private key for a CA certificate that is brought in with its key already on
   * the token: by `keyRef` when given, else by the certificate's public key among the token's
   * public keys. Either way a test signature by the private key must verify with the
   * certificate's key, so a key reference can never adopt a key that is not the certificate's.
   */
  async tokenKey(spkiDer: Uint8Array, keyRef?: string): Promise<TokenKey> {
    const keyAlgorithm = publicKeyFacts(spkiDer).algorithm;
    if (!keyAlgorithm || keyAlgorithm === 'Ed25519') {
      throw new CaError(
        'invalid',
        'unsupported_key_algorithm',
        "the certificate's key must be EC P-256, EC P-384 or RSA to sign on the token",
      );
    }
    const session = this.sessions[0];
    let id: Buffer;
    if (keyRef !== undefined) {
      const ref = parseKeyRef(keyRef);
      if (!ref) throw new CaError('invalid', 'malformed_key_ref', 'keyRef must be a PKCS#11 URI: pkcs11:token=…;object=…;id=%..');
      if (ref.token !== this.tokenLabel) {
        throw new CaError('invalid', 'key_ref_unusable', `keyRef names token "${ref.token}", but Anvil uses token "${this.tokenLabel}"`);
      }
      id = ref.id;
    } else {
      const ids = await session
        .run(() => session.publicKeyIds(spkiDer))
        .catch((err) => {
          throw hsmUnavailable('list its keys', err);
        });
      const withPrivate = ids.filter((i) => session.hasPrivateKey(i));
      if (withPrivate.length === 0) {
        throw new CaError(
          'invalid',
          'key_not_on_token',
          `PKCS#11 token "${this.tokenLabel}" holds no private key with a public key matching the certificate; import its public key beside it, or give keyRef`,
        );
      }
      if (new Set(withPrivate.map((i) => i.toString('hex'))).size > 1) {
        throw new CaError('invalid', 'key_ambiguous', 'several keys on the token match the certificate: choose one with keyRef');
      }
      id = withPrivate[0];
    }
    const label = session.privateKeyLabel(id);
    if (label === null) {
      throw new CaError(
        'invalid',
        'key_not_on_token',
        `PKCS#11 token "${this.tokenLabel}" has no private key with id ${id.toString('hex')}`,
      );
    }
    const found = formatKeyRef({ token: this.tokenLabel, object: label, id });
    await this.proveKey(found, keyAlgorithm, spkiDer);
    return { keyRef: found, keyAlgorithm };
  }

  /** Signs a random challenge with the token key and verifies it with `spkiDer`: key_mismatch otherwise. */
  private async proveKey(keyRef: string, keyAlgorithm: KeyAlgorithm, spkiDer: Uint8Array): Promise<void> {
    const signer = this.signer({ name: 'import', keyRef, keyAlgorithm, encryptedKey: null, spkiDer });
    const challenge = randomBytes(32);
    const signature = await signer.sign(challenge);
    const key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
    const family = publicKeyFacts(spkiDer).family;
    if (!verifyWith({ family, hash: signer.signatureAlgorithm.nodeHash }, challenge, key, signature)) {
      throw new CaError('invalid', 'key_mismatch', 'the key on the token is not the key of this certificate');
    }
  }

  /** Deletes the private and public key objects of a key `generate` made (one `CKA_ID`). */
  async discard(entry: CustodyEntry): Promise<void> {
    const ref = entry.keyRef ? parseKeyRef(entry.keyRef) : null;
    if (!ref || ref.token !== this.tokenLabel) return;
    const session = this.sessions[0];
    await session.run(async () => session.destroyKeys(ref.id));
  }

  softwareKey(issuer: CustodyIssuer): Uint8Array | null {
    return issuer.keyRef && parseKeyRef(issuer.keyRef) ? null : this.software.softwareKey(issuer);
  }

  wrap(issuerName: string, pkcs8Der: Uint8Array): CustodyEntry {
    return this.software.wrap(issuerName, pkcs8Der);
  }

  signer(issuer: CustodyIssuer): Signer {
    const ref = issuer.keyRef ? parseKeyRef(issuer.keyRef) : null;
    if (!ref) return this.software.signer(issuer);
    if (ref.token !== this.tokenLabel) {
      throw new Error(
        `the key of issuer "${issuer.name}" is on PKCS#11 token "${ref.token}", but the configured token is "${this.tokenLabel}"`,
      );
    }
    // Checked now so that a token without the key fails start-up rather than the first issuance.
    if (!this.sessions[0].hasPrivateKey(ref.id)) {
      throw new Error(`the key of issuer "${issuer.name}" (${issuer.keyRef}) is not on PKCS#11 token "${this.tokenLabel}"`);
    }
    const spki = issuer.spkiDer ?? (issuer.certificateDer ? new Uint8Array(certificateFacts(issuer.certificateDer).spki) : null);
    if (!spki) throw new Error(`issuer "${issuer.name}": no public key to go with its token key`);
    const keyAlgorithm = issuer.keyAlgorithm as KeyAlgorithm;
    return new TokenSigner(keyAlgorithm, spki, (data) => this.rawSign(ref.id, keyAlgorithm, data));
  }

  /**
   * One signature from the token as WebCrypto gives it (r||s for ECDSA), through the signer's
   * own sessions and queues: the bench measures the token's rate with it.
   */
  rawSign(id: Buffer, keyAlgorithm: KeyAlgorithm, data: Uint8Array): Promise<Uint8Array> {
    const session = this.session();
    return session
      .run(async () => {
        const key = await session.privateKey(id, keyAlgorithm);
        return new Uint8Array(await session.crypto.subtle.sign(webCryptoAlgorithms(keyAlgorithm).sign as never, key as never, data));
      })
      .catch((err) => {
        throw hsmUnavailable('sign', err);
      });
  }

  close(): void {
    for (const s of this.sessions) s.close();
    try {
      this.mod.finalize();
    } catch {}
  }
}

/**
 * The WebCrypto adapter over the token: its provider is a session picked per signature, so the
 * conversion to X.509's encoding stays in WebCryptoSigner and only the transport is here.
 */
class TokenSigner extends WebCryptoSigner {
  constructor(keyAlgorithm: KeyAlgorithm, spki: Uint8Array, raw: (data: Uint8Array) => Promise<Uint8Array>) {
    super(
      {
        subtle: {
          sign: async (_alg, _key, data) => (await raw(data)).slice().buffer,
          exportKey: () => Promise.reject(new Error('not used')),
          importKey: () => Promise.reject(new Error('keys are generated on the token, not imported')),
          generateKey: () => Promise.reject(new Error('not used')),
        },
      },
      keyAlgorithm,
      null,
      spki,
    );
  }
}
