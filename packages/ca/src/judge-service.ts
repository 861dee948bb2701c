/**
 * The judge as Anvil runs it: the pure verdict engine of @anvil/pki (createJudge) fed with
 * Anvil's trust, Anvil's revocation truth and, when asked, CRLs fetched from the network.
 *
 * - Trust: by default the anchors are Anvil's roots (what GET /pki/trust-bundle.pem serves and
 *   what nginx's ssl_client_certificate holds) and Anvil's intermediates are "known issuers", so
 *   a client that sends only its leaf is told which intermediate is missing and to send
 *   fullchain.pem. Callers may pass their own anchors; Anvil's intermediates stay known issuers.
 * - `crls` are nginx's ssl_crl: when given, revocation is checked for every certificate of the
 *   path and a missing or stale CRL fails the way nginx fails. `'anvil'` means Anvil's current
 *   CRLs of every issuer (the root's included), i.e. nginx configured as Anvil recommends.
 * - Anvil's own certificates are ALWAYS checked against its database, whatever the mode: before
 *   judging, the status of every presented certificate whose issuer is an Anvil issuer (its AKI
 *   equals the issuer's SKI) is read with store.serialStatus, and the engine gets a synchronous
 *   lookup over those answers. A revocation the database knows fails the verdict even when the
 *   CRLs (and so nginx) do not list it yet.
 *
 * Revocation modes (`revocation`), for certificates Anvil did not issue:
 * - `auto` (default): only what costs nothing — the CRLs passed in. No network access unless
 *   the operator turned on `fetchCdpInAuto` (off by default, see the SSRF note at fetchCrl in
 *   revocation/crl-fetcher.ts).
 * - `prefer`: also fetch the CRL named in each certificate's CRL distribution point (http/https
 *   only) and use it when its signature verifies under the issuer found in the chain or anchors
 *   and it is current. A fetch that fails is reported as a check; it does not fail the verdict.
 * - `require`: as `prefer`, and a verdict that would be `verified` although nobody could say
 *   whether the leaf is revoked becomes `failed` with reason `revocation_unknown`.
 * - `off`: no network access and nothing required. (Anvil's database is still consulted for its
 *   own certificates: it costs one indexed query and saying "verified" about a certificate Anvil
 *   knows to be revoked would be a lie.)
 * In every mode a verdict never claims revocation was checked when nothing was (the engine
 * reports `revocation.checked = false` and says so in a check and a hint).
 *
 * Caching (the mTLS listener judges on every handshake): createJudge instances per anchors,
 * CRLs and set of issuers; Anvil's CRL set for up to 5 s; database answers per certificate and
 * whole verdicts per (chain, question, second). Everything that depends on revocation is kept
 * only while revocation notices arrive (RevocationNotices: every process sends one in the
 * revoking transaction), for at most REVOCATION_CACHE_MAX_MS, and every notice drops it, as
 * does a dropped or re-established subscription — the OCSP responder's cache works the same
 * way. A revocation made in this process is therefore seen by the next verdict; one made by
 * another process as soon as its notice arrives (milliseconds), and at the latest after
 * REVOCATION_CACHE_MAX_MS should a notice be lost unseen.
 */
import { createHash } from 'node:crypto';
import {
  certificateFacts as certFacts,
  createJudge,
  Lru,
  type CertificateFacts as CertFacts,
  parseCrl,
  pemToDerList,
  verifyCrlSignature,
  type ExpectName,
  type Judge,
  type JudgeCheck,
  type RevocationLookup,
  type RevocationLookupResult,
  type Verdict,
  truncateToSeconds,
} from '@anvil/pki';
import { chainOf, type LoadedIssuer } from './issuers.ts';
import { CrlFetcher } from './revocation/crl-fetcher.ts';
import { REVOCATION_CACHE_MAX_MS, type RevocationNotices } from './revocation/notices.ts';
import type { SerialStatus, StoredCrl } from './store.ts';

export type RevocationMode = 'auto' | 'prefer' | 'require' | 'off';
export const REVOCATION_MODES: readonly RevocationMode[] = ['auto', 'prefer', 'require', 'off'];

export interface JudgeRequest {
  /** 'client' (default) judges as nginx judges a client certificate; 'server' as a TLS client judges a server. */
  purpose?: 'client' | 'server';
  expectName?: ExpectName;
  /** The moment to judge at; default now. */
  at?: Date;
  /** Trusted certificates (DER), as nginx's ssl_client_certificate; default Anvil's roots. */
  trustAnchors?: Uint8Array[];
  /** nginx's ssl_crl (DER CRLs), or 'anvil' for Anvil's current CRLs; default none. */
  crls?: Uint8Array[] | 'anvil';
  revocation?: RevocationMode;
  /** nginx ssl_verify_depth; default 3. */
  maxDepth?: number;
}

/**
 * All the judge needs of the authority: its issuers, what the database says of a serial, its
 * current CRLs, and the notices that drop revocation-dependent caches.
 */
export interface RevocationTruth {
  issuers(): LoadedIssuer[];
  serialStatus(issuerId: string, serialHex: string): Promise<SerialStatus | null>;
  currentCrl(issuer: LoadedIssuer): Promise<StoredCrl>;
  notices: Pick<RevocationNotices, 'subscribe' | 'live'>;
  /** Roots trusted without a key, above imported intermediates (issuer-import.ts). */
  trustAnchors?(): Uint8Array[];
}

/** What JudgeService takes of an Authority (which has all of it) to build its RevocationTruth. */
export interface JudgeAuthority {
  issuers(): LoadedIssuer[];
  serialStatus(issuerId: string, serialHex: string): Promise<SerialStatus | null>;
  crls: { current(issuer: LoadedIssuer): Promise<StoredCrl> };
  revocationNotices: Pick<RevocationNotices, 'subscribe' | 'live'>;
  trustAnchors?(): { certificateDer: Uint8Array }[];
}

export interface JudgeServiceOptions {
  /** Read once, into the narrow RevocationTruth; the service keeps nothing else of it. */
  authority: JudgeAuthority;
  now?: () => Date;
  /** Fetch CDP CRLs in 'auto' mode too (default false: callers choose 'prefer' or 'require'). */
  fetchCdpInAuto?: boolean;
  /** For tests; default globalThis.fetch. */
  fetchImpl?: typeof fetch;
  crlFetchTimeoutMs?: number;
  crlMaxBytes?: number;
  /** How long Anvil's own CRL set is reused before it is read again (default 5 s; a revocation notice drops it at once). */
  anvilCrlTtlMs?: number;
  /**
   * How long a database answer about one certificate, or a verdict, is reused (default and
   * upper bound REVOCATION_CACHE_MAX_MS) — only while revocation notices arrive, which drop the
   * issuer's answers at once, as the OCSP responder's cache does. 0 asks the database for every verdict.
   */
  statusCacheMs?: number;
}

const DB_SOURCE = 'anvil-db';
const FETCH_SOURCE = 'crl-fetch';

// ---- a few fields of a certificate, read straight from its DER ------------------------------

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// ---- the service ----------------------------------------------------------------------------

interface AnvilIssuerKey {
  issuer: LoadedIssuer;
  spkiSha: string;
  subjectNameHex: string;
}

export class JudgeService {
  private readonly now: () => Date;
  private readonly anvil: RevocationTruth;
  private readonly options: Omit<JudgeServiceOptions, 'authority'>;
  private readonly crlFetcher: CrlFetcher;
  private readonly judges = new Lru<Judge>(32);
  private readonly facts = new Lru<CertFacts | null>(4096);
  private anvilCrls: { key: string; ders: Uint8Array[]; until: number; issuersKey: string } | null = null;
  private anvilCrlsLoading: Promise<{ ders: Uint8Array[]; key: string }> | null = null;
  private issuerIndex: { key: string; bySki: Map<string, AnvilIssuerKey>; byName: Map<string, AnvilIssuerKey> } | null = null;
  private listening = false;
  /** Per issuer id, bumped by every revocation notice; an answer read across a bump is not cached. */
  private readonly generation = new Map<string, number>();
  /** Bumped by every revocation notice; part of the verdict cache key. */
  private epoch = 0;
  /** Recent verdicts (shared objects: callers must not mutate them). */
  private readonly verdicts = new Lru<{ verdict: Verdict; until: number }>(2048);
  private readonly statusCache = new Lru<{ result: RevocationLookupResult; until: number; generation: number }>(10_000);

  constructor({ authority, ...options }: JudgeServiceOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.anvil = {
      issuers: () => authority.issuers(),
      serialStatus: (issuerId, serialHex) => authority.serialStatus(issuerId, serialHex),
      currentCrl: (issuer) => authority.crls.current(issuer),
      notices: authority.revocationNotices,
      trustAnchors: () => authority.trustAnchors?.().map((a) => a.certificateDer) ?? [],
    };
    this.crlFetcher = new CrlFetcher({
      timeoutMs: options.crlFetchTimeoutMs ?? 5_000,
      maxBytes: options.crlMaxBytes ?? 20 * 1024 * 1024,
      fetchImpl: options.fetchImpl ?? globalThis.fetch,
    });
  }

  /** Forget cached CRLs and database answers (for `issuerId`, or all). Revocation notices call it. */
  invalidate(issuerId?: string): void {
    this.anvilCrls = null;
    this.epoch++;
    this.verdicts.clear();
    if (issuerId === undefined) {
      this.statusCache.clear();
      for (const k of this.generation.keys()) this.generation.set(k, (this.generation.get(k) ?? 0) + 1);
    } else this.generation.set(issuerId, (this.generation.get(issuerId) ?? 0) + 1);
  }

  /** Subscribes to revocation notices (this process's and, through the store, every other one's). */
  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.anvil.notices.subscribe((issuerId) => this.invalidate(issuerId ?? undefined));
  }

  /** How long revocation-dependent answers may be reused now: 0 while notices are not delivered. */
  private cacheMs(): number {
    if (!this.anvil.notices.live) return 0;
    return Math.min(this.options.statusCacheMs ?? REVOCATION_CACHE_MAX_MS, REVOCATION_CACHE_MAX_MS);
  }

  /** Anvil's database on one certificate, through the notice-invalidated cache. */
  private async dbStatus(issuerId: string, serialHex: string): Promise<RevocationLookupResult> {
    this.listen();
    const key = `${issuerId}:${serialHex}`;
    const generation = this.generation.get(issuerId) ?? 0;
    if (this.cacheMs() > 0) {
      const hit = this.statusCache.get(key);
      if (hit && hit.until > Date.now() && hit.generation === generation) return hit.result;
    }
    const result = fromSerialStatus(await this.anvil.serialStatus(issuerId, serialHex));
    const ttl = this.cacheMs();
    if (ttl > 0 && (this.generation.get(issuerId) ?? 0) === generation) {
      this.statusCache.set(key, { result, until: Date.now() + ttl, generation });
    }
    return result;
  }

  /** Anvil's issuers, indexed by SKI and by subject name; rebuilt when the set of issuers changes. */
  private issuers() {
    const list = this.anvil.issuers();
    const key = list.map((i) => `${i.record.id}:${i.record.status}`).join(',');
    if (this.issuerIndex?.key === key) return this.issuerIndex;
    const bySki = new Map<string, AnvilIssuerKey>();
    const byName = new Map<string, AnvilIssuerKey>();
    for (const issuer of list) {
      const f = certFacts(issuer.record.certificateDer);
      const entry = { issuer, spkiSha: sha256(f.spki), subjectNameHex: f.subjectNameHex };
      bySki.set(issuer.record.subjectKeyId.toLowerCase(), entry);
      byName.set(f.subjectNameHex, entry);
    }
    this.issuerIndex = { key, bySki, byName };
    this.judges.clear();
    this.anvilCrls = null;
    return this.issuerIndex;
  }

  private factsOf(der: Uint8Array, fp = sha256(der)): CertFacts | null {
    const hit = this.facts.get(fp);
    if (hit !== undefined) return hit;
    let f: CertFacts | null;
    try {
      f = certFacts(der);
    } catch {
      f = null; // the engine reports it as malformed
    }
    this.facts.set(fp, f);
    return f;
  }

  /** Anvil's current CRLs, every issuer's, reused for a few seconds. */
  private async currentAnvilCrls(issuersKey: string): Promise<{ ders: Uint8Array[]; key: string }> {
    const cached = this.anvilCrls;
    if (cached && cached.issuersKey === issuersKey && cached.until > Date.now()) return cached;
    if (!this.anvilCrlsLoading) {
      this.listen();
      const epoch = this.epoch;
      this.anvilCrlsLoading = (async () => {
        const crls = await Promise.all(this.anvil.issuers().map((i) => this.anvil.currentCrl(i)));
        const ders = crls.map((c) => c.der);
        const key = crls.map((c) => `${c.issuerId}#${c.number}`).join(',');
        const soonest = Math.min(...crls.map((c) => c.nextUpdate.getTime() - this.now().getTime()));
        const ttl = Math.max(0, Math.min(this.options.anvilCrlTtlMs ?? 5_000, soonest));
        // A revocation notice that arrived meanwhile may be newer than what was read: use it once, keep it not.
        if (epoch === this.epoch && this.cacheMs() > 0) this.anvilCrls = { key, ders, until: Date.now() + ttl, issuersKey };
        return { ders, key };
      })().finally(() => {
        this.anvilCrlsLoading = null;
      });
    }
    return this.anvilCrlsLoading;
  }

  private judgeFor(
    anchors: Uint8Array[] | null,
    crls: Uint8Array[] | null,
    crlKey: string | null,
    issuersKey: string,
  ): { judge: Judge; key: string } {
    const anchorKey = anchors ? anchors.map(sha256).join(',') : `anvil:${issuersKey}`;
    const key = `${anchorKey}|${crlKey ?? (crls ? crls.map(sha256).join(',') : 'none')}|${issuersKey}`;
    let judge = this.judges.get(key);
    if (!judge) {
      const issuers = this.anvil.issuers();
      judge = createJudge({
        anchors: anchors ?? [
          ...issuers.filter((i) => i.record.kind === 'root').map((i) => i.record.certificateDer),
          ...(this.anvil.trustAnchors?.() ?? []),
        ],
        crls: crls ?? undefined,
        knownIssuers: [
          ...issuers.filter((i) => i.record.kind !== 'root').map((i) => i.record.certificateDer),
          // An imported issuer's external intermediates (issuer-import.ts), which no issuer row holds.
          ...issuers.flatMap((i) => (i.record.externalChain ? pemToDerList(i.record.externalChain, ['CERTIFICATE']) : [])),
        ],
      });
      this.judges.set(key, judge);
    }
    return { judge, key };
  }

  /** The Anvil issuer that issued `der` (matched by AKI = SKI, and by name), if any. */
  anvilIssuerOf(der: Uint8Array): { issuer: LoadedIssuer; serialHex: string } | null {
    const f = this.factsOf(der);
    if (!f || f.issuerNameHex === f.subjectNameHex) return null;
    const index = this.issuers();
    const owner = f.akiHex ? index.bySki.get(f.akiHex) : index.byName.get(f.issuerNameHex);
    if (!owner || owner.subjectNameHex !== f.issuerNameHex) return null;
    return { issuer: owner.issuer, serialHex: f.serialHex };
  }

  /** The intermediates (DER) a client should send after `leaf` when an Anvil intermediate issued it. */
  anvilIntermediatesFor(leaf: Uint8Array): Uint8Array[] | null {
    const owner = this.anvilIssuerOf(leaf);
    if (!owner || owner.issuer.record.kind === 'root') return null;
    return chainOf(owner.issuer).map((i) => i.record.certificateDer);
  }

  /**
   * Judges `presented` (DER, leaf first, exactly as the client sent it). Throws JudgeInputError
   * (from @anvil/pki) for trust anchors or CRLs that do not decode. The verdict may be shared
   * with other callers (a cache): copy it before changing anything in it.
   */
  async judge(presented: Uint8Array[], req: JudgeRequest = {}): Promise<Verdict> {
    const mode = req.revocation ?? 'auto';
    const index = this.issuers();
    let crls: Uint8Array[] | null = null;
    let crlKey: string | null = null;
    if (req.crls === 'anvil') {
      ({ ders: crls, key: crlKey } = await this.currentAnvilCrls(index.key));
    } else if (req.crls) crls = req.crls;
    // "Now" is judged to the second, as OpenSSL compares times; that makes verdicts cacheable.
    // Taken after Anvil's CRLs are read: one signed meanwhile (a second boundary crossed while it
    // was built) would otherwise be "not yet valid" at a moment before its thisUpdate.
    const at = req.at ?? truncateToSeconds(this.now());
    const { judge, key: judgeKey } = this.judgeFor(req.trustAnchors ?? null, crls, crlKey, index.key);

    // Same chain, same question, same second, no revocation notice since: same verdict. Only
    // while notices arrive, and never when CRLs are fetched (they have lifetimes of their own).
    this.listen();
    const cacheable = this.cacheMs() > 0 && mode !== 'prefer' && mode !== 'require' && (mode !== 'auto' || !this.options.fetchCdpInAuto);
    const fingerprints = presented.map(sha256);
    let verdictKey = '';
    if (cacheable) {
      verdictKey = [
        judgeKey,
        this.epoch,
        at.getTime(),
        req.purpose ?? 'client',
        req.expectName ? `${req.expectName.type}:${req.expectName.value}` : '',
        req.maxDepth ?? '',
        mode,
        fingerprints.join(','),
      ].join('|');
      const hit = this.verdicts.get(verdictKey);
      if (hit && hit.until > Date.now()) return hit.verdict;
    }
    const epoch = this.epoch;

    const extraChecks: JudgeCheck[] = [];
    const answers = new Map<string, RevocationLookupResult>();
    const facts = presented.map((d, i) => this.factsOf(d, fingerprints[i]));

    // Anvil's database, for every presented certificate an Anvil issuer issued.
    const dbAsks: Array<Promise<void>> = [];
    const foreign: Array<{ f: CertFacts; i: number }> = [];
    facts.forEach((f, i) => {
      if (!f || f.issuerNameHex === f.subjectNameHex) return; // self-issued: nobody to ask
      const owner = (f.akiHex ? index.bySki.get(f.akiHex) : undefined) ?? (f.akiHex ? undefined : index.byName.get(f.issuerNameHex));
      if (!owner || f.issuerNameHex !== owner.subjectNameHex) {
        foreign.push({ f, i });
        return;
      }
      dbAsks.push(
        this.dbStatus(owner.issuer.record.id, f.serialHex).then((r) => {
          answers.set(`${owner.spkiSha}:${f.serialHex}`, r);
        }),
      );
    });

    const fetchCdp = mode === 'prefer' || mode === 'require' || (mode === 'auto' && this.options.fetchCdpInAuto === true);
    if (fetchCdp && foreign.length) {
      const anchorFacts = (req.trustAnchors ?? []).map((d) => this.factsOf(d)).filter((x): x is CertFacts => x !== null);
      const candidates = [...facts.filter((x): x is CertFacts => x !== null), ...anchorFacts];
      for (const { f, i } of foreign) dbAsks.push(this.resolveByCdp(f, i, candidates, at, answers, extraChecks));
    }
    await Promise.all(dbAsks);

    const lookup: RevocationLookup | undefined = answers.size
      ? ({ serialHex, issuerSpki }) => answers.get(`${sha256(issuerSpki)}:${serialHex}`)
      : undefined;
    const verdict = judge.judge(presented, {
      at,
      purpose: req.purpose ?? 'client',
      expectName: req.expectName,
      maxDepth: req.maxDepth,
      revocationLookup: lookup,
    });
    if (extraChecks.length) verdict.checks.push(...extraChecks);

    if (mode === 'require' && verdict.status === 'verified' && !verdict.revocation.checked) {
      verdict.status = 'failed';
      verdict.reason = 'revocation_unknown';
      verdict.hints = [
        'Revocation checking was required, but no source could say whether the certificate is revoked: pass the CA CRLs (crls), or make sure the CRL distribution point of the certificate is reachable from Anvil.',
        ...verdict.hints.filter((h) => !h.startsWith('Revocation was not checked')),
      ];
    }
    const ttl = this.cacheMs();
    if (cacheable && ttl > 0 && epoch === this.epoch) this.verdicts.set(verdictKey, { verdict, until: Date.now() + ttl });
    return verdict;
  }

  /** CRL from the CDP of a certificate Anvil did not issue, checked against its issuer. */
  private async resolveByCdp(
    f: CertFacts,
    index: number,
    candidates: CertFacts[],
    at: Date,
    answers: Map<string, RevocationLookupResult>,
    checks: JudgeCheck[],
  ): Promise<void> {
    const label = index === 0 ? 'the leaf' : `certificate #${index + 1}`;
    const urls = f.crlUrls.filter((u) => /^https?:\/\//i.test(u));
    if (urls.length === 0) {
      if (index === 0) checks.push({ name: 'revocation_fetch', ok: false, detail: `${label} names no http(s) CRL distribution point` });
      return;
    }
    const issuers = candidates.filter((c) => c.subjectNameHex === f.issuerNameHex && c !== f);
    if (issuers.length === 0) {
      checks.push({
        name: 'revocation_fetch',
        ok: false,
        detail: `the issuer of ${label} is neither presented nor a trust anchor, so its CRL cannot be verified`,
      });
      return;
    }
    const problems: string[] = [];
    for (const url of urls) {
      let der: Uint8Array;
      try {
        der = await this.crlFetcher.get(url);
      } catch (e) {
        problems.push(`${url}: ${(e as Error).message}`);
        continue;
      }
      const signer = issuers.find((c) => {
        try {
          return verifyCrlSignature(der, c.spki);
        } catch {
          return false;
        }
      });
      if (!signer) {
        problems.push(`${url}: not a CRL signed by the issuer of ${label}`);
        continue;
      }
      let crl;
      try {
        crl = parseCrl(der);
      } catch (e) {
        problems.push(`${url}: ${(e as Error).message}`);
        continue;
      }
      if (crl.unhandledCriticalExtensions.length) {
        problems.push(`${url}: critical CRL extensions not supported (${crl.unhandledCriticalExtensions.join(', ')})`);
        continue;
      }
      if (crl.thisUpdate > at || (crl.nextUpdate && crl.nextUpdate < at)) {
        problems.push(
          `${url}: the CRL is not current at ${at.toISOString()} (thisUpdate ${crl.thisUpdate.toISOString()}, nextUpdate ${crl.nextUpdate?.toISOString() ?? 'none'})`,
        );
        continue;
      }
      const entry = crl.entries.find((e) => e.serialHex === f.serialHex);
      answers.set(
        `${sha256(signer.spki)}:${f.serialHex}`,
        entry
          ? { status: 'revoked', reason: entry.reason, revokedAt: entry.revokedAt, source: FETCH_SOURCE }
          : { status: 'good', source: FETCH_SOURCE },
      );
      checks.push({
        name: 'revocation_fetch',
        ok: true,
        detail: `${label}: CRL fetched from ${url} (${crl.entries.length} entries, nextUpdate ${crl.nextUpdate?.toISOString() ?? 'none'})`,
      });
      return;
    }
    checks.push({ name: 'revocation_fetch', ok: false, detail: `${label}: ${problems.join('; ')}` });
  }
}

function fromSerialStatus(s: SerialStatus | null): RevocationLookupResult {
  if (!s) return { status: 'unknown', source: DB_SOURCE };
  if (s.status === 'revoked')
    return { status: 'revoked', reason: s.reason ?? 'unspecified', ...(s.revokedAt ? { revokedAt: s.revokedAt } : {}), source: DB_SOURCE };
  return { status: 'good', source: DB_SOURCE };
}
