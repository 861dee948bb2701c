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
 *   the operator turned on `fetchCdpInAuto` (off by default, see the SSRF note at fetchCrl).
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
import { isIP } from 'node:net';
import {
  certificateFacts as certFacts,
  createJudge,
  Lru,
  type CertificateFacts as CertFacts,
  parseCrl,
  parsePemBlocks,
  verifyCrlSignature,
  type ExpectName,
  type Judge,
  type JudgeCheck,
  type RevocationLookup,
  type RevocationLookupResult,
  type Verdict,
} from '@anvil/pki';
import type { Authority } from './authority.ts';
import { chainOf, type LoadedIssuer } from './issuers.ts';
import { REVOCATION_CACHE_MAX_MS } from './revocation/notices.ts';
import type { SerialStatus } from './store.ts';

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

export interface JudgeServiceOptions {
  authority: Authority;
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

// ---- fetching CRLs --------------------------------------------------------------------------

export class CrlFetchError extends Error {}

/**
 * GET a CRL named by a certificate's CRL distribution point.
 *
 * SSRF: the URL comes from a certificate the caller presented, so fetching it lets anyone who
 * can call the judge make this server send a GET to an address of their choosing — internal
 * admin ports, cloud metadata endpoints, hosts behind the firewall. That is why the service
 * fetches only when the caller asks for it ('prefer'/'require') or the operator turned it on for
 * 'auto', and why the fetch is narrow: http and https only (redirects too, at most 3), literal
 * link-local/unspecified addresses refused, a 5 s total timeout, a size cap, and the body is
 * only ever parsed as a CRL — never echoed back. Operators who cannot accept the residual risk
 * should keep the judge API behind authentication (it is) and block egress from Anvil.
 */
async function fetchCrl(url: string, opts: { timeoutMs: number; maxBytes: number; fetchImpl: typeof fetch }): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let current = url;
  for (let hop = 0; hop <= 3; hop++) {
    let u: URL;
    try {
      u = new URL(current);
    } catch {
      throw new CrlFetchError(`not a URL: ${current.slice(0, 200)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CrlFetchError(`only http and https CRL URLs are fetched, not ${u.protocol}`);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && /^(169\.254\.|0\.|fe80:|::$)/i.test(host)) throw new CrlFetchError(`refusing to fetch from link-local or unspecified address ${host}`);
    let res: Response;
    try {
      res = await opts.fetchImpl(u, { redirect: 'manual', signal, headers: { accept: 'application/pkix-crl, application/x-pem-file;q=0.9, */*;q=0.1' } });
    } catch (e) {
      throw new CrlFetchError(`${u.origin}: ${(e as Error).name === 'TimeoutError' ? `no answer within ${opts.timeoutMs / 1000} s` : (e as Error).message}`);
    }
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      await res.body?.cancel().catch(() => {});
      if (!location) throw new CrlFetchError(`${u.origin}: redirect without a Location`);
      current = new URL(location, u).toString();
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new CrlFetchError(`${u.origin}${u.pathname}: HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > opts.maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new CrlFetchError(`CRL larger than ${opts.maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = res.body?.getReader();
    if (!reader) throw new CrlFetchError('empty response');
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new CrlFetchError(`${u.origin}: ${(e as Error).message}`);
      }
      if (r.done) break;
      size += r.value.byteLength;
      if (size > opts.maxBytes) {
        await reader.cancel().catch(() => {});
        throw new CrlFetchError(`CRL larger than ${opts.maxBytes} bytes`);
      }
      chunks.push(r.value);
    }
    const body = new Uint8Array(Buffer.concat(chunks));
    if (body[0] === 0x30) return body;
    const text = Buffer.from(body).toString('latin1');
    const pem = text.includes('-----BEGIN') ? parsePemBlocks(text).find((b) => b.label === 'X509 CRL') : undefined;
    if (!pem) throw new CrlFetchError('the response is neither a DER nor a PEM CRL');
    return pem.der;
  }
  throw new CrlFetchError('too many redirects');
}

// ---- the service ----------------------------------------------------------------------------

interface AnvilIssuerKey {
  issuer: LoadedIssuer;
  spkiSha: string;
  subjectNameHex: string;
}

export class JudgeService {
  private readonly now: () => Date;
  private readonly fetchImpl: typeof fetch;
  private readonly judges = new Lru<Judge>(32);
  private readonly facts = new Lru<CertFacts | null>(4096);
  private readonly fetched = new Lru<{ der: Uint8Array; until: number }>(256);
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

  constructor(private readonly options: JudgeServiceOptions) {
    this.now = options.now ?? (() => new Date());
    this.fetchImpl = options.fetchImpl ?? globalThis.fetch;
  }

  private get authority(): Authority {
    return this.options.authority;
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
    this.authority.revocationNotices.subscribe((issuerId) => this.invalidate(issuerId ?? undefined));
  }

  /** How long revocation-dependent answers may be reused now: 0 while notices are not delivered. */
  private cacheMs(): number {
    if (!this.authority.revocationNotices.live) return 0;
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
    const result = fromSerialStatus(await this.authority.store.serialStatus(issuerId, serialHex));
    const ttl = this.cacheMs();
    if (ttl > 0 && (this.generation.get(issuerId) ?? 0) === generation) {
      this.statusCache.set(key, { result, until: Date.now() + ttl, generation });
    }
    return result;
  }

  /** Anvil's issuers, indexed by SKI and by subject name; rebuilt when the set of issuers changes. */
  private issuers() {
    const list = this.authority.issuers();
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
        const crls = await Promise.all(this.authority.issuers().map((i) => this.authority.crls.current(i)));
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

  private judgeFor(anchors: Uint8Array[] | null, crls: Uint8Array[] | null, crlKey: string | null, issuersKey: string): { judge: Judge; key: string } {
    const anchorKey = anchors ? anchors.map(sha256).join(',') : `anvil:${issuersKey}`;
    const key = `${anchorKey}|${crlKey ?? (crls ? crls.map(sha256).join(',') : 'none')}|${issuersKey}`;
    let judge = this.judges.get(key);
    if (!judge) {
      const issuers = this.authority.issuers();
      judge = createJudge({
        anchors: anchors ?? issuers.filter((i) => i.record.kind === 'root').map((i) => i.record.certificateDer),
        crls: crls ?? undefined,
        knownIssuers: issuers.filter((i) => i.record.kind !== 'root').map((i) => i.record.certificateDer),
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
    // "Now" is judged to the second, as OpenSSL compares times; that makes verdicts cacheable.
    const at = req.at ?? new Date(Math.floor(this.now().getTime() / 1000) * 1000);
    const mode = req.revocation ?? 'auto';
    const index = this.issuers();
    let crls: Uint8Array[] | null = null;
    let crlKey: string | null = null;
    if (req.crls === 'anvil') {
      ({ ders: crls, key: crlKey } = await this.currentAnvilCrls(index.key));
    } else if (req.crls) crls = req.crls;
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
      checks.push({ name: 'revocation_fetch', ok: false, detail: `the issuer of ${label} is neither presented nor a trust anchor, so its CRL cannot be verified` });
      return;
    }
    const problems: string[] = [];
    for (const url of urls) {
      let der: Uint8Array;
      try {
        der = await this.fetchCached(url);
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
        problems.push(`${url}: the CRL is not current at ${at.toISOString()} (thisUpdate ${crl.thisUpdate.toISOString()}, nextUpdate ${crl.nextUpdate?.toISOString() ?? 'none'})`);
        continue;
      }
      const entry = crl.entries.find((e) => e.serialHex === f.serialHex);
      answers.set(
        `${sha256(signer.spki)}:${f.serialHex}`,
        entry ? { status: 'revoked', reason: entry.reason, revokedAt: entry.revokedAt, source: FETCH_SOURCE } : { status: 'good', source: FETCH_SOURCE },
      );
      checks.push({ name: 'revocation_fetch', ok: true, detail: `${label}: CRL fetched from ${url} (${crl.entries.length} entries, nextUpdate ${crl.nextUpdate?.toISOString() ?? 'none'})` });
      return;
    }
    checks.push({ name: 'revocation_fetch', ok: false, detail: `${label}: ${problems.join('; ')}` });
  }

  private async fetchCached(url: string): Promise<Uint8Array> {
    const hit = this.fetched.get(url);
    if (hit && hit.until > Date.now()) return hit.der;
    const der = await fetchCrl(url, {
      timeoutMs: this.options.crlFetchTimeoutMs ?? 5_000,
      maxBytes: this.options.crlMaxBytes ?? 20 * 1024 * 1024,
      fetchImpl: this.fetchImpl,
    });
    let until = Date.now() + 60_000;
    try {
      const next = parseCrl(der).nextUpdate;
      if (next) until = Math.max(until, Math.min(next.getTime(), Date.now() + 3600_000));
    } catch {
      // judged by the caller
    }
    this.fetched.set(url, { der, until });
    return der;
  }
}

function fromSerialStatus(s: SerialStatus | null): RevocationLookupResult {
  if (!s) return { status: 'unknown', source: DB_SOURCE };
  if (s.status === 'revoked') return { status: 'revoked', reason: s.reason ?? 'unspecified', ...(s.revokedAt ? { revokedAt: s.revokedAt } : {}), source: DB_SOURCE };
  return { status: 'good', source: DB_SOURCE };
}
