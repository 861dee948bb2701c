/** CRLs: numbered, signed and stored per issuer, re-signed before they go stale. */
import { buildCrl, truncateToSeconds } from '@anvil/pki';
import { stillPublishes, type LoadedIssuer } from '../issuers.ts';
import type { Store, StoredCrl, StoreTx } from '../store.ts';

/** Work that must commit with the CRL it concerns (an operator's re-sign writes its audit row so). */
export type CrlHook = (tx: StoreTx, crl: StoredCrl) => Promise<void>;

export interface CrlPolicy {
  /** nextUpdate - thisUpdate. The CRL is re-signed once half of it has passed. */
  validityMs: number;
  /** An expired certificate stays on the CRL this long after its notAfter. */
  expiredGraceMs: number;
}

export const DEFAULT_CRL_POLICY: CrlPolicy = { validityMs: 24 * 3600_000, expiredGraceMs: 7 * 86_400_000 };

/**
 * Signs and stores one CRL per issuer. The CRL number comes from a row-locked counter in the
 * same transaction that stores the CRL, so numbers strictly increase even with several
 * processes on one PostgreSQL, and a later number is never overwritten by an earlier one.
 * Entries come from the database as pages PostgreSQL packed (no object per certificate) and are
 * encoded straight into the one buffer that becomes the CRL, signed where it lies.
 */
export class CrlPublisher {
  /** Per issuer: the tail of the publish queue, and how many requests the newest build covers. */
  private readonly queue = new Map<string, Promise<StoredCrl>>();
  private readonly requested = new Map<string, number>();
  private readonly covered = new Map<string, number>();
  private readonly cache = new Map<string, StoredCrl>();
  /** Issuers whose last build failed (e.g. after a revocation had committed): re-signed on next use. */
  private readonly failed = new Set<string>();
  /** Per issuer: hooks of requests not yet covered by a committed build. */
  private readonly hooks = new Map<string, CrlHook[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly now: () => Date,
    readonly policy: CrlPolicy = DEFAULT_CRL_POLICY,
  ) {}

  /**
   * Re-signs the issuer's CRL. Calls that arrive while a build runs share the next build, which
   * starts after they arrived, so a caller's revocation is always in the CRL it gets back.
   * `inTransaction` runs in the transaction of the build that covers this call.
   */
  publish(issuer: LoadedIssuer, inTransaction?: CrlHook): Promise<StoredCrl> {
    const id = issuer.record.id;
    const ticket = (this.requested.get(id) ?? 0) + 1;
    this.requested.set(id, ticket);
    if (inTransaction) this.hooks.set(id, [...(this.hooks.get(id) ?? []), inTransaction]);
    const previous = this.queue.get(id) ?? Promise.resolve(null);
    const next = previous
      .catch(() => null)
      .then(async () => {
        const cached = this.cache.get(id);
        if (cached && (this.covered.get(id) ?? 0) >= ticket) return cached;
        const covers = this.requested.get(id)!;
        const hooks = this.hooks.get(id) ?? [];
        this.hooks.delete(id);
        let crl: StoredCrl;
        try {
          crl = await this.build(issuer, hooks);
        } catch (err) {
          // Rolled back with the build: the next build runs them.
          this.hooks.set(id, [...hooks, ...(this.hooks.get(id) ?? [])]);
          this.failed.add(id);
          throw err;
        }
        this.failed.delete(id);
        this.covered.set(id, covers);
        this.cache.set(id, crl);
        return crl;
      });
    this.queue.set(id, next);
    return next;
  }

  private async build(issuer: LoadedIssuer, hooks: CrlHook[]): Promise<StoredCrl> {
    return this.store.transaction(async (tx) => {
      const number = await tx.nextCrlNumber(issuer.record.id);
      const thisUpdate = truncateToSeconds(this.now());
      const nextUpdate = new Date(thisUpdate.getTime() + this.policy.validityMs);
      const expiredBefore = new Date(thisUpdate.getTime() - this.policy.expiredGraceMs);
      const entries = await tx.revokedEntryPages(issuer.record.id, expiredBefore);
      const der = await buildCrl({
        issuerNameDer: new Uint8Array(issuer.certificate.subject.toSchema().toBER(false)),
        authorityKeyId: Buffer.from(issuer.record.subjectKeyId, 'hex'),
        signer: issuer.signer,
        crlNumber: number,
        thisUpdate,
        nextUpdate,
        entries,
      });
      const crl: StoredCrl = { issuerId: issuer.record.id, number, thisUpdate, nextUpdate, der };
      await tx.saveCrl(crl);
      for (const hook of hooks) await hook(tx, crl);
      return crl;
    });
  }

  /**
   * The issuer's current CRL: the stored one (possibly signed by another process), or a fresh one.
   * An issuer that no longer publishes (stillPublishes) keeps its last CRL, never re-signed.
   */
  async current(issuer: LoadedIssuer): Promise<StoredCrl> {
    const id = issuer.record.id;
    const header = await this.store.getCrlHeader(id);
    const resign = !header || ((this.isStale(header) || this.failed.has(id)) && stillPublishes(issuer, this.now()));
    if (resign) return this.publish(issuer);
    const cached = this.cache.get(id);
    if (cached && cached.number === header.number) return cached;
    const stored = await this.store.getCrl(id);
    if (!stored) return this.publish(issuer);
    this.cache.set(id, stored);
    return stored;
  }

  /** Due for re-signing: half the validity has passed (or it has expired). */
  isStale(crl: { thisUpdate: Date; nextUpdate: Date }): boolean {
    const half = crl.thisUpdate.getTime() + (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / 2;
    return this.now().getTime() >= half;
  }

  /** Re-signs every publishing issuer's CRL that is missing or past half its validity. */
  async refresh(issuers: LoadedIssuer[]): Promise<void> {
    for (const issuer of issuers) {
      if (!stillPublishes(issuer, this.now())) continue;
      const header = await this.store.getCrlHeader(issuer.record.id);
      if (!header || this.isStale(header) || this.failed.has(issuer.record.id)) await this.publish(issuer);
    }
  }

  /** Checks freshness every `intervalMs` (default a minute) until `stop`. */
  start(issuers: () => LoadedIssuer[], onError: (err: unknown) => void, intervalMs = 60_000): void {
    const tick = () => this.refresh(issuers()).catch(onError);
    void tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
