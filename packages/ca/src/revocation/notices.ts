/**
 * Revocation notices: how every cache that could make a revoked certificate look good (OCSP
 * answers, the judge's database answers and verdicts) learns that it must forget.
 *
 * A notice comes from this process's own revocations (before the revoke call returns) and,
 * through the store's subscription, from every other process sharing the database. A
 * subscription can drop (a network blip, a database failover, a terminated backend) and notices
 * sent meanwhile are lost, so:
 * - while the subscription is down, `live` is false and caches neither answer nor keep anything;
 * - when it drops and again when it stands (again), every listener is told to forget everything
 *   (`issuerId` null);
 * - whatever happens, a cached entry lives at most REVOCATION_CACHE_MAX_MS: a notice lost in a
 *   way nobody saw costs seconds, not minutes.
 */
import type { Store } from '../store.ts';

/** The longest any revocation-dependent cache entry may be reused, notices or not. */
export const REVOCATION_CACHE_MAX_MS = 5_000;

export type RevocationListener = (issuerId: string | null) => void;

export class RevocationNotices {
  private readonly listeners: RevocationListener[] = [];
  private subscribing: Promise<void> | null = null;
  private up = false;

  constructor(private readonly store: Pick<Store, 'onRevocation'>) {}

  /** Notices are being delivered: caches may answer (within REVOCATION_CACHE_MAX_MS). */
  get live(): boolean {
    return this.up;
  }

  /** `listener(issuerId)` on every revocation of any process; `listener(null)`: forget everything. */
  subscribe(listener: RevocationListener): void {
    this.listeners.push(listener);
    void this.start();
  }

  /** Subscribes to the store once; resolves after its first attempt (the store keeps retrying). */
  start(): Promise<void> {
    this.subscribing ??= this.store
      .onRevocation({
        revoked: (issuerId) => this.emit(issuerId),
        subscription: (live) => {
          // Up or down, whatever was cached before may have missed a notice.
          this.up = live;
          this.emit(null);
        },
      })
      .catch(() => {
        // No subscription at all: caches stay off and every answer is read from the database.
        this.up = false;
      });
    return this.subscribing;
  }

  /** A revocation committed by this process: tell every listener before the call returns. */
  revokedHere(issuerId: string): void {
    this.emit(issuerId);
  }

  private emit(issuerId: string | null): void {
    for (const listener of this.listeners) listener(issuerId);
  }
}
