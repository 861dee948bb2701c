/**
 * X509_verify_cert of OpenSSL 3.0 (crypto/x509/x509_vfy.c), replayed step by step over decoded
 * certificates, with a verify callback that always continues — which is what nginx installs
 * (ngx_ssl_verify_callback returns 1). Every error the callback would see is recorded in order:
 *
 * - nginx stores SSL_get_verify_result(), i.e. ctx->error after the whole run: the LAST error
 *   reported (verified against nginx 1.22 + OpenSSL 3.0.19: a leaf sent without its
 *   intermediate reports 20 first and then 21, and $ssl_client_verify says
 *   "FAILED:unable to verify the first certificate");
 * - `openssl verify` stops at the first error its callback does not excuse, so its output is
 *   a prefix of the same sequence.
 *
 * Order of checks (verify_chain): build_chain (trusted-first issuer search, untrusted chain
 * from the peer, trust decision), check_extensions (critical extensions, CA flags, purpose,
 * path length), check_auth_level (security level), check_id (host/email/IP), check_revocation
 * (CRLs, every certificate with CRL_CHECK_ALL as nginx's ssl_crl sets), internal_verify
 * (signatures and validity times from the top of the chain down), check_name_constraints.
 */
import { verifyWith } from '../signature-algorithms.ts';
import { bytesEqual } from '../der.ts';
import { checkIdentity, hasDnsSan, nameConstraintsCheck, nameConstraintsCheckCn, type IdentityKind } from './name-checks.ts';
import { X509_V } from './openssl-codes.ts';
import {
  CRLDP_ALL_REASONS,
  EXFLAG,
  IDP,
  KU,
  NS,
  XKU,
  akidMatches,
  generalNamesEqual,
  keyObjectOf,
  sigAlgMatchesKey,
  type CertModel,
  type CrlEntryModel,
  type CrlModel,
  type DistPoint,
  type DistPointName,
  type KeyModel,
  type SignatureSpec,
} from './x509-model.ts';

export type Purpose = 'sslclient' | 'sslserver';

export interface TrustStore {
  anchors: CertModel[];
  /** Anchors by canonical subject name, in the order they were given. */
  bySubject: Map<string, CertModel[]>;
  /** CRLs by canonical issuer name; null when revocation is not checked (no ssl_crl). */
  crlsByIssuer: Map<string, CrlModel[]> | null;
}

export function buildTrustStore(anchors: CertModel[], crls: CrlModel[] | null): TrustStore {
  const bySubject = new Map<string, CertModel[]>();
  const seen = new Set<string>();
  for (const a of anchors) {
    if (seen.has(a.fingerprint)) continue; // X509_STORE_add_cert ignores duplicates
    seen.add(a.fingerprint);
    const list = bySubject.get(a.subject.canon) ?? [];
    list.push(a);
    bySubject.set(a.subject.canon, list);
  }
  let crlsByIssuer: Map<string, CrlModel[]> | null = null;
  if (crls) {
    crlsByIssuer = new Map();
    for (const c of crls) {
      const list = crlsByIssuer.get(c.issuer.canon) ?? [];
      list.push(c);
      crlsByIssuer.set(c.issuer.canon, list);
    }
  }
  return { anchors: [...bySubject.values()].flat(), bySubject, crlsByIssuer };
}

export interface VerifyOptions {
  purpose: Purpose | null;
  /** Verification time, seconds since the epoch (X509_V_FLAG_USE_CHECK_TIME). */
  at: number;
  /** X509_VERIFY_PARAM depth, nginx's ssl_verify_depth. */
  depth: number;
  /** Security level (check_auth_level); OpenSSL's TLS default is 1, `openssl verify` skips it. */
  authLevel: number;
  identity?: { kind: IdentityKind; value: string };
}

export type Stage = 'key' | 'chain' | 'extensions' | 'auth' | 'identity' | 'revocation' | 'signature' | 'time' | 'names';

export interface VerifyEvent {
  code: number;
  depth: number;
  cert: CertModel | null;
  stage: Stage;
}

export interface CrlCheck {
  depth: number;
  cert: CertModel;
  crl: CrlModel | null;
  /** The entry that revokes the certificate, when the CRL lists it. */
  entry?: CrlEntryModel;
  /** Errors raised while finding or checking this certificate's CRL. */
  codes: number[];
}

export interface VerifyTrace {
  events: VerifyEvent[];
  chain: CertModel[];
  numUntrusted: number;
  /** build_chain reached a trust anchor. */
  trusted: boolean;
  /** ctx->error at the end: what SSL_get_verify_result, and so nginx, reports. */
  error: number;
  crlChecks: CrlCheck[];
  /** X509_verify_cert returned <= 0 without the callback's say (internal error). */
  aborted: boolean;
}

/** Memo of signature checks: key "subjectFingerprint|issuerFingerprint". */
export type SignatureCache = Map<string, boolean>;

const CRL_SCORE = {
  NOCRITICAL: 0x100,
  SCOPE: 0x080,
  TIME: 0x040,
  ISSUER_NAME: 0x020,
  VALID: 0x100 | 0x080 | 0x040,
  ISSUER_CERT: 0x018,
  SAME_PATH: 0x008,
  AKID: 0x004,
  TIME_DELTA: 0x002,
} as const;

interface Signed {
  fingerprint: string;
  tbs: Uint8Array;
  sig: SignatureSpec;
  signature: Uint8Array;
  signatureUnusedBits: number;
  innerSigAlg: Uint8Array;
  outerSigAlg: Uint8Array;
}

/** X509_verify / X509_CRL_verify: outer and inner algorithm must agree, then the signature. */
export function verifySignature(item: Signed, issuer: { fingerprint: string; key: KeyModel }, cache?: SignatureCache): boolean {
  const k = `${item.fingerprint}|${issuer.fingerprint}`;
  const hit = cache?.get(k);
  if (hit !== undefined) return hit;
  const ok = computeSignature(item, issuer.key);
  if (cache) {
    if (cache.size > 4096) cache.delete(cache.keys().next().value as string);
    cache.set(k, ok);
  }
  return ok;
}

function computeSignature(item: Signed, key: KeyModel): boolean {
  if (!bytesEqual(item.innerSigAlg, item.outerSigAlg)) return false;
  const object = keyObjectOf(key);
  if (item.signatureUnusedBits !== 0 || !object || item.sig.family === null) return false;
  if (!sigAlgMatchesKey(key, item.sig) && !(item.sig.family === 'RSA-PSS' && key.family === 'RSA-PSS')) return false;
  try {
    return verifyWith(item.sig, item.tbs, object, item.signature);
  } catch {
    return false;
  }
}

const minBits = [80, 112, 128, 192, 256];
const levelBits = (level: number): number => minBits[Math.min(level, minBits.length) - 1];

class VerifyCtx {
  readonly events: VerifyEvent[] = [];
  readonly crlChecks: CrlCheck[] = [];
  chain: CertModel[];
  numUntrusted = 1;
  error: number = X509_V.OK;
  errorDepth = 0;
  currentCrlCheck: CrlCheck | null = null;
  trusted = false;

  constructor(
    readonly leaf: CertModel,
    readonly untrusted: CertModel[],
    readonly store: TrustStore,
    readonly opts: VerifyOptions,
    readonly sigCache: SignatureCache | undefined,
  ) {
    this.chain = [leaf];
  }

  /** verify_cb_cert: report an error; nginx's callback always continues. */
  fail(cert: CertModel | null, depth: number, code: number, stage: Stage): void {
    this.errorDepth = depth;
    if (code !== X509_V.OK) this.error = code;
    this.events.push({ code, depth, cert: cert ?? this.chain[depth] ?? null, stage });
  }

  /** verify_cb_crl: depth and certificate are those of the CRL check under way. */
  failCrl(code: number): void {
    this.error = code;
    const c = this.currentCrlCheck;
    this.events.push({ code, depth: this.errorDepth, cert: c?.cert ?? null, stage: 'revocation' });
    c?.codes.push(code);
  }

  // -- time --------------------------------------------------------------------------------
  timeValid(x: CertModel): boolean {
    const at = this.opts.at;
    return x.notBefore.epoch !== null && x.notBefore.epoch <= at && x.notAfter.epoch !== null && x.notAfter.epoch > at;
  }

  /** x509_check_cert_time with the callback (3.0: notAfter equal to now counts as expired). */
  checkCertTime(x: CertModel, depth: number): void {
    const at = this.opts.at;
    if (x.notBefore.epoch === null) this.fail(x, depth, X509_V.ERROR_IN_CERT_NOT_BEFORE_FIELD, 'time');
    else if (x.notBefore.epoch > at) this.fail(x, depth, X509_V.CERT_NOT_YET_VALID, 'time');
    if (x.notAfter.epoch === null) this.fail(x, depth, X509_V.ERROR_IN_CERT_NOT_AFTER_FIELD, 'time');
    else if (x.notAfter.epoch <= at) this.fail(x, depth, X509_V.CERT_HAS_EXPIRED, 'time');
  }

  // -- issuers -----------------------------------------------------------------------------
  /** check_issued -> ossl_x509_likely_issued(issuer, x). */
  checkIssued(x: CertModel, issuer: CertModel): boolean {
    if (issuer.subject.canon !== x.issuer.canon) return false;
    if ((x.flags | issuer.flags) & EXFLAG.INVALID) return false;
    if (!akidMatches(issuer, x.akid)) return false;
    return sigAlgMatchesKey(issuer.key, x.sig);
  }

  /** Prefer the first candidate valid now, else the one expiring last (find_issuer). */
  bestIssuer(x: CertModel, candidates: CertModel[], noDup: boolean): CertModel | null {
    let best: CertModel | null = null;
    for (const c of candidates) {
      if (noDup && !(x.flags & EXFLAG.SI && this.chain.length === 1) && this.chain.some((y) => y.fingerprint === c.fingerprint)) continue;
      if (!this.checkIssued(x, c)) continue;
      if (this.timeValid(c)) return c;
      if (!best || (c.notAfter.epoch ?? 0) > (best.notAfter.epoch ?? 0)) best = c;
    }
    return best;
  }

  trustedIssuer(x: CertModel): CertModel | null {
    return this.bestIssuer(x, this.store.bySubject.get(x.issuer.canon) ?? [], false);
  }

  /** check_trust: a self-signed certificate from the store is trusted (no auxiliary trust here). */
  checkTrust(from: number): boolean {
    for (let i = from; i < this.chain.length; i++) {
      const x = this.chain[i];
      if (!(x.flags & EXFLAG.INVALID) && x.flags & EXFLAG.SS) return true;
    }
    return false;
  }

  // -- build_chain -------------------------------------------------------------------------
  buildChain(): boolean {
    const S_UNTRUSTED = 1;
    const S_TRUSTED = 2;
    let search = (this.untrusted.length ? S_UNTRUSTED : 0) | S_TRUSTED; // X509_V_FLAG_TRUSTED_FIRST
    const skUntrusted = [...this.untrusted];
    const maxDepth = this.opts.depth + 1;
    let trusted = false;

    while (search !== 0) {
      let num = this.chain.length;
      this.errorDepth = num - 1;
      if (search & S_TRUSTED) {
        const curr = this.chain[num - 1];
        const issuer = num > maxDepth ? null : this.trustedIssuer(curr);
        if (issuer) {
          let selfSigned = (curr.flags & EXFLAG.SS) !== 0;
          let ok = true;
          if (!selfSigned) {
            this.chain.push(issuer);
            selfSigned = (issuer.flags & EXFLAG.SS) !== 0;
          } else if (curr.fingerprint !== issuer.fingerprint) {
            ok = false; // self-signed untrusted mimic of a trust anchor
          } else {
            this.numUntrusted = --num;
            this.chain[num] = issuer;
          }
          if (ok) {
            search &= ~S_UNTRUSTED;
            trusted = this.checkTrust(num);
            if (trusted) break;
            if (!selfSigned) continue;
          }
        }
        if ((search & S_UNTRUSTED) === 0) break; // no alternate chains with trusted-first
      }
      if (search & S_UNTRUSTED) {
        num = this.chain.length;
        const curr = this.chain[num - 1];
        const issuer = curr.flags & EXFLAG.SS || num > maxDepth ? null : this.bestIssuer(curr, skUntrusted, true);
        if (!issuer) {
          search &= ~S_UNTRUSTED;
          search |= S_TRUSTED;
          continue;
        }
        skUntrusted.splice(skUntrusted.indexOf(issuer), 1);
        this.chain.push(issuer);
        this.numUntrusted++;
      }
    }

    const num = this.chain.length;
    if (!trusted && num <= maxDepth && num === this.numUntrusted) trusted = this.checkTrust(num);
    this.trusted = trusted;
    if (trusted) return true;

    // A preliminary error (only the leaf key check can have raised one) becomes final.
    if (this.error !== X509_V.OK) {
      this.fail(null, num - 1, this.error, 'chain');
      return true;
    }
    if (num > maxDepth) this.fail(null, num - 1, X509_V.CERT_CHAIN_TOO_LONG, 'chain');
    const top = this.chain[num - 1];
    if (top.flags & EXFLAG.SS) {
      this.fail(null, num - 1, num === 1 ? X509_V.DEPTH_ZERO_SELF_SIGNED_CERT : X509_V.SELF_SIGNED_CERT_IN_CHAIN, 'chain');
    } else {
      this.fail(
        null,
        num - 1,
        this.numUntrusted < num ? X509_V.UNABLE_TO_GET_ISSUER_CERT : X509_V.UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        'chain',
      );
    }
    return true;
  }

  // -- check_extensions --------------------------------------------------------------------
  checkExtensions(): void {
    const num = this.chain.length;
    let mustBeCa = -1;
    let plen = 0;
    for (let i = 0; i < num; i++) {
      const x = this.chain[i];
      if (x.flags & EXFLAG.CRITICAL) this.fail(x, i, X509_V.UNHANDLED_CRITICAL_EXTENSION, 'extensions');
      if (x.flags & EXFLAG.PROXY) this.fail(x, i, X509_V.PROXY_CERTIFICATES_NOT_ALLOWED, 'extensions');
      const ret = checkCa(x);
      if (mustBeCa === 0 && ret !== 0) this.fail(x, i, X509_V.INVALID_NON_CA, 'extensions');
      if (mustBeCa === 1 && (ret === 0 || (i + 1 < num && ret !== 1))) this.fail(x, i, X509_V.INVALID_CA, 'extensions');
      if (num > 1 && x.key.family === 'EC' && x.key.explicitCurve) this.fail(x, i, X509_V.EC_KEY_EXPLICIT_PARAMS, 'extensions');
      else if (num > 1 && !x.key.valid) this.fail(x, i, X509_V.UNSPECIFIED, 'extensions');
      if (this.opts.purpose && checkPurpose(x, this.opts.purpose, mustBeCa > 0) === 0)
        this.fail(x, i, X509_V.INVALID_PURPOSE, 'extensions');
      if (i > 1 && x.pathlen !== -1 && plen > x.pathlen) this.fail(x, i, X509_V.PATH_LENGTH_EXCEEDED, 'extensions');
      if (i > 0 && !(x.flags & EXFLAG.SI)) plen++;
      mustBeCa = x.flags & EXFLAG.PROXY ? 0 : 1;
    }
  }

  checkAuthLevel(): void {
    const level = this.opts.authLevel;
    if (level <= 0) return;
    const num = this.chain.length;
    for (let i = 0; i < num; i++) {
      const x = this.chain[i];
      if (i > 0 && x.key.securityBits < levelBits(level)) this.fail(x, i, X509_V.CA_KEY_TOO_SMALL, 'auth');
      if (i < num - 1 && x.sig.secbits < levelBits(level)) this.fail(x, i, X509_V.CA_MD_TOO_WEAK, 'auth');
    }
  }

  checkId(): void {
    const id = this.opts.identity;
    if (!id) return;
    const code = checkIdentity(this.leaf, id.kind, id.value);
    // URIs have no OpenSSL check (code 0): the judge reports those itself.
    if (code !== null && code !== 0) this.fail(this.leaf, 0, code, 'identity');
  }

  // -- check_revocation (CRL_CHECK | CRL_CHECK_ALL) ------------------------------------------
  checkRevocation(): void {
    if (!this.store.crlsByIssuer) return;
    for (let i = 0; i < this.chain.length; i++) {
      this.errorDepth = i;
      this.checkCertCrl(i);
    }
  }

  checkCertCrl(cnum: number): void {
    const x = this.chain[cnum];
    const check: CrlCheck = { depth: cnum, cert: x, crl: null, codes: [] };
    this.currentCrlCheck = check;
    this.crlChecks.push(check);
    if (x.flags & EXFLAG.PROXY) return;
    let currentReasons = 0;
    while (currentReasons !== CRLDP_ALL_REASONS) {
      const lastReasons = currentReasons;
      const got = this.getCrl(x, cnum, currentReasons);
      if (!got) {
        this.failCrl(X509_V.UNABLE_TO_GET_CRL);
        break;
      }
      check.crl = got.crl;
      currentReasons = got.reasons;
      this.checkCrl(got.crl, got.issuer, got.score, cnum);
      this.certCrl(got.crl, x, check);
      if (lastReasons === currentReasons) {
        this.failCrl(X509_V.UNABLE_TO_GET_CRL);
        break;
      }
    }
    this.currentCrlCheck = null;
  }

  /** get_crl_delta -> get_crl_sk over the store's CRLs with the certificate's issuer name. */
  getCrl(x: CertModel, cnum: number, reasons: number): { crl: CrlModel; issuer: CertModel; score: number; reasons: number } | null {
    const candidates = this.store.crlsByIssuer?.get(x.issuer.canon) ?? [];
    let best: { crl: CrlModel; issuer: CertModel; score: number; reasons: number } | null = null;
    let bestScore = 0;
    for (const crl of candidates) {
      const s = this.crlScore(crl, x, cnum, reasons);
      if (!s || s.score < bestScore || s.score === 0) continue;
      if (s.score === bestScore && best) {
        if ((crl.lastUpdate.epoch ?? 0) <= (best.crl.lastUpdate.epoch ?? 0)) continue;
      }
      best = { crl, issuer: s.issuer, score: s.score, reasons: s.reasons };
      bestScore = s.score;
    }
    return best;
  }

  crlTimeOk(crl: CrlModel): boolean {
    const at = this.opts.at;
    if (crl.lastUpdate.epoch === null || crl.lastUpdate.epoch > at) return false;
    if (crl.nextUpdate && (crl.nextUpdate.epoch === null || crl.nextUpdate.epoch <= at)) return false;
    return true;
  }

  /** get_crl_score (3.0, without X509_V_FLAG_EXTENDED_CRL_SUPPORT). */
  crlScore(crl: CrlModel, x: CertModel, cnum: number, reasons: number): { score: number; issuer: CertModel; reasons: number } | null {
    if (crl.idpFlags & IDP.INVALID) return null;
    if (crl.idpFlags & (IDP.INDIRECT | IDP.REASONS)) return null;
    if (x.issuer.canon !== crl.issuer.canon) return null; // indirect CRLs need extended support
    let score: number = CRL_SCORE.ISSUER_NAME;
    if (!crl.critical) score |= CRL_SCORE.NOCRITICAL;
    if (this.crlTimeOk(crl)) score |= CRL_SCORE.TIME;
    // crl_akid_check: the next certificate up (or the top one itself) by AKID alone, then by
    // name and AKID further up the path.
    const num = this.chain.length;
    let cidx = cnum;
    if (cidx !== num - 1) cidx++;
    let issuer: CertModel | null = null;
    if (akidMatches(this.chain[cidx], crl.akid)) {
      score |= CRL_SCORE.AKID | CRL_SCORE.ISSUER_CERT;
      issuer = this.chain[cidx];
    } else {
      for (cidx++; cidx < num; cidx++) {
        const c = this.chain[cidx];
        if (c.subject.canon !== crl.issuer.canon) continue;
        if (akidMatches(c, crl.akid)) {
          score |= CRL_SCORE.AKID | CRL_SCORE.SAME_PATH;
          issuer = c;
          break;
        }
      }
    }
    if (!issuer) return null;
    const scope = crlDpCheck(x, crl, score);
    let newReasons = reasons;
    if (scope !== null) {
      if ((scope & ~reasons) === 0) return null;
      newReasons |= scope;
      score |= CRL_SCORE.SCOPE;
    }
    return { score, issuer, reasons: newReasons };
  }

  /** check_crl */
  checkCrl(crl: CrlModel, issuer: CertModel, score: number, _cnum: number): void {
    if (crl.baseCrlNumber === undefined) {
      if (issuer.flags & EXFLAG.KUSAGE && !(issuer.ku & KU.CRL_SIGN)) this.failCrl(X509_V.KEYUSAGE_NO_CRL_SIGN);
      if (!(score & CRL_SCORE.SCOPE)) this.failCrl(X509_V.DIFFERENT_CRL_SCOPE);
    }
    if (!(score & CRL_SCORE.TIME)) {
      const at = this.opts.at;
      if (crl.lastUpdate.epoch === null) this.failCrl(X509_V.ERROR_IN_CRL_LAST_UPDATE_FIELD);
      else if (crl.lastUpdate.epoch > at) this.failCrl(X509_V.CRL_NOT_YET_VALID);
      if (crl.nextUpdate) {
        if (crl.nextUpdate.epoch === null) this.failCrl(X509_V.ERROR_IN_CRL_NEXT_UPDATE_FIELD);
        else if (crl.nextUpdate.epoch <= at) this.failCrl(X509_V.CRL_HAS_EXPIRED);
      }
    }
    if (!issuer.key.valid) this.failCrl(X509_V.UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY);
    else if (!verifySignature(crl, issuer, this.sigCache)) this.failCrl(X509_V.CRL_SIGNATURE_FAILURE);
  }

  /** cert_crl */
  certCrl(crl: CrlModel, x: CertModel, check: CrlCheck): void {
    if (crl.critical) this.failCrl(X509_V.UNHANDLED_CRITICAL_CRL_EXTENSION);
    const entry = (crl.entries.get(x.serial) ?? []).find(
      (e) => !e.certIssuer || e.certIssuer.some((g) => g.kind === 'dirName' && g.name.canon === x.issuer.canon),
    );
    if (!entry) return;
    if (entry.reason === 8) return; // removeFromCRL
    check.entry = entry;
    this.failCrl(X509_V.CERT_REVOKED);
  }

  // -- internal_verify ---------------------------------------------------------------------
  internalVerify(): void {
    let n = this.chain.length - 1;
    let xi = this.chain[n];
    let xs = xi;
    this.errorDepth = n;
    if (!this.checkIssued(xi, xi)) {
      if (n > 0) {
        n--;
        this.errorDepth = n;
        xs = this.chain[n];
      } else {
        this.fail(xi, 0, X509_V.UNABLE_TO_VERIFY_LEAF_SIGNATURE, 'signature');
      }
    }
    while (n >= 0) {
      if (xs !== xi) {
        const issuerDepth = n + 1;
        if (xi.flags & EXFLAG.KUSAGE && !(xi.ku & KU.KEY_CERT_SIGN) && !(xs.flags & EXFLAG.PROXY))
          this.fail(xi, issuerDepth, X509_V.KEYUSAGE_NO_CERTSIGN, 'signature');
        if (!xi.key.valid) this.fail(xi, issuerDepth, X509_V.UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, 'signature');
        else if (!verifySignature(xs, xi, this.sigCache)) this.fail(xs, n, X509_V.CERT_SIGNATURE_FAILURE, 'signature');
      }
      this.checkCertTime(xs, n);
      this.errorDepth = n;
      if (--n >= 0) {
        xi = xs;
        xs = this.chain[n];
      }
    }
  }

  // -- check_name_constraints --------------------------------------------------------------
  checkNameConstraints(): void {
    const num = this.chain.length;
    for (let i = num - 1; i >= 0; i--) {
      const x = this.chain[i];
      if (i !== 0 && x.flags & EXFLAG.SI) continue;
      for (let j = num - 1; j > i; j--) {
        const nc = this.chain[j].nc;
        if (!nc) continue;
        let rv = nameConstraintsCheck(x, nc);
        if (rv === X509_V.OK && i === 0 && !hasDnsSan(x)) rv = nameConstraintsCheckCn(x, nc);
        if (rv !== X509_V.OK) this.fail(x, i, rv, 'names');
      }
    }
  }

  run(): void {
    if (this.opts.authLevel > 0 && this.leaf.key.securityBits < levelBits(this.opts.authLevel))
      this.fail(this.leaf, 0, X509_V.EE_KEY_TOO_SMALL, 'key');
    this.buildChain();
    this.checkExtensions();
    this.checkAuthLevel();
    this.checkId();
    this.checkRevocation();
    this.internalVerify();
    this.checkNameConstraints();
  }
}

/** check_ca (v3_purp.c): 1 = CA, 0 = not a CA, 3/4/5 = tolerated legacy CA forms. */
export function checkCa(x: CertModel): number {
  if (x.flags & EXFLAG.INVALID) return 0;
  if (x.flags & EXFLAG.KUSAGE && !(x.ku & KU.KEY_CERT_SIGN)) return 0;
  if (x.flags & EXFLAG.BCONS) return x.flags & EXFLAG.CA ? 1 : 0;
  if ((x.flags & (EXFLAG.V1 | EXFLAG.SS)) === (EXFLAG.V1 | EXFLAG.SS)) return 3;
  if (x.flags & EXFLAG.KUSAGE) return 4;
  if (x.flags & EXFLAG.NSCERT && x.nscert & NS.ANY_CA) return 5;
  return 0;
}

function checkSslCa(x: CertModel): number {
  const r = checkCa(x);
  if (r === 0) return 0;
  if (r !== 5 || x.nscert & NS.SSL_CA) return r;
  return 0;
}

const xkuReject = (x: CertModel, usage: number): boolean => (x.flags & EXFLAG.XKUSAGE) !== 0 && (x.xku & usage) === 0;
const kuReject = (x: CertModel, usage: number): boolean => (x.flags & EXFLAG.KUSAGE) !== 0 && (x.ku & usage) === 0;
const nsReject = (x: CertModel, usage: number): boolean => (x.flags & EXFLAG.NSCERT) !== 0 && (x.nscert & usage) === 0;

/**
 * X509_check_purpose for the TLS purposes: 1 (or 3/4/5 for legacy CAs) allowed, 0 refused,
 * -1 when the certificate's extensions did not decode (tolerated without X509_STRICT).
 */
export function checkPurpose(x: CertModel, purpose: Purpose, requireCa: boolean): number {
  if (x.flags & EXFLAG.INVALID) return -1;
  if (purpose === 'sslclient') {
    if (xkuReject(x, XKU.SSL_CLIENT)) return 0;
    if (requireCa) return checkSslCa(x);
    if (kuReject(x, KU.DIGITAL_SIGNATURE | KU.KEY_AGREEMENT)) return 0;
    if (nsReject(x, NS.SSL_CLIENT)) return 0;
    return 1;
  }
  if (xkuReject(x, XKU.SSL_SERVER | XKU.SGC)) return 0;
  if (requireCa) return checkSslCa(x);
  if (nsReject(x, NS.SSL_SERVER)) return 0;
  if (kuReject(x, KU.DIGITAL_SIGNATURE | KU.KEY_ENCIPHERMENT | KU.KEY_AGREEMENT)) return 0;
  return 1;
}

function idpCheckDp(a: DistPointName | undefined, b: DistPointName | undefined): boolean {
  if (!a || !b) return true;
  if (a.type === 1 && b.type === 1) return a.dpname === b.dpname;
  if (a.type === 1 || b.type === 1) {
    const nm = a.type === 1 ? a.dpname : b.dpname;
    const gens = (a.type === 1 ? b.fullName : a.fullName) ?? [];
    return gens.some((g) => g.kind === 'dirName' && g.name.canon === nm);
  }
  return (a.fullName ?? []).some((ga) => (b.fullName ?? []).some((gb) => generalNamesEqual(ga, gb)));
}

/** crl_crldp_check: the reasons this CRL covers for the certificate, or null when out of scope. */
function crlDpCheck(x: CertModel, crl: CrlModel, score: number): number | null {
  if (crl.idpFlags & IDP.ONLYATTR) return null;
  if (x.flags & EXFLAG.CA) {
    if (crl.idpFlags & IDP.ONLYUSER) return null;
  } else if (crl.idpFlags & IDP.ONLYCA) return null;
  const reasons = crl.idpReasons;
  const crlIssuerOk = (dp: DistPoint): boolean =>
    dp.crlIssuer
      ? dp.crlIssuer.some((g) => g.kind === 'dirName' && g.name.canon === crl.issuer.canon)
      : (score & CRL_SCORE.ISSUER_NAME) !== 0;
  for (const dp of x.crldp) {
    if (crlIssuerOk(dp) && (!(crl.idpFlags & IDP.PRESENT) || idpCheckDp(dp.distpoint, crl.idpDistpoint))) return reasons & dp.reasons;
  }
  if ((!(crl.idpFlags & IDP.PRESENT) || !crl.idpDistpoint) && score & CRL_SCORE.ISSUER_NAME) return reasons;
  return null;
}

/**
 * Runs X509_verify_cert as nginx's TLS server does for a client certificate (purpose
 * "sslclient", trust anchors from ssl_client_certificate, CRLs from ssl_crl with CRL_CHECK_ALL).
 */
export function x509VerifyCert(presented: CertModel[], store: TrustStore, opts: VerifyOptions, sigCache?: SignatureCache): VerifyTrace {
  const ctx = new VerifyCtx(presented[0], presented, store, opts, sigCache);
  ctx.run();
  return {
    events: ctx.events,
    chain: ctx.chain,
    numUntrusted: ctx.numUntrusted,
    trusted: ctx.trusted,
    error: ctx.error,
    crlChecks: ctx.crlChecks,
    aborted: false,
  };
}

/**
 * Errors `openssl verify` excuses and continues past (apps/verify.c cb()); the first error not
 * in this set ends its run. Used to predict which prefix of the trace the CLI prints.
 */
export const OPENSSL_VERIFY_CONTINUES = new Set<number>([
  X509_V.NO_EXPLICIT_POLICY,
  X509_V.CERT_HAS_EXPIRED,
  X509_V.DEPTH_ZERO_SELF_SIGNED_CERT,
  X509_V.INVALID_CA,
  X509_V.INVALID_NON_CA,
  X509_V.PATH_LENGTH_EXCEEDED,
  X509_V.CRL_HAS_EXPIRED,
  X509_V.CRL_NOT_YET_VALID,
  X509_V.UNHANDLED_CRITICAL_EXTENSION,
  X509_V.INVALID_PURPOSE,
  X509_V.PATHLEN_INVALID_FOR_NON_CA,
  X509_V.PATHLEN_WITHOUT_KU_KEY_CERT_SIGN,
  X509_V.CA_BCONS_NOT_CRITICAL,
  X509_V.CA_CERT_MISSING_KEY_USAGE,
  X509_V.KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA,
  X509_V.ISSUER_NAME_EMPTY,
  X509_V.SUBJECT_NAME_EMPTY,
  X509_V.EMPTY_SUBJECT_SAN_NOT_CRITICAL,
  X509_V.EMPTY_SUBJECT_ALT_NAME,
  X509_V.SIGNATURE_ALGORITHM_INCONSISTENCY,
  X509_V.AUTHORITY_KEY_IDENTIFIER_CRITICAL,
  X509_V.SUBJECT_KEY_IDENTIFIER_CRITICAL,
  X509_V.MISSING_AUTHORITY_KEY_IDENTIFIER,
  X509_V.MISSING_SUBJECT_KEY_IDENTIFIER,
  X509_V.EXTENSIONS_REQUIRE_VERSION_3,
]);
