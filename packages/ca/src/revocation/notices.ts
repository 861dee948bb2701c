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
 *
 * Before a revoke call returns, `confirm()` makes sure every other process has dropped what it
 * cached too (the store's acknowledged fence, db/src/notification-listener.ts): each process
 * acknowledges, or — crashed, partitioned, stalled — its lease on the subscription runs out and
 * `live` turns false by itself, checked on every use, not by a timer that a busy process would
 * run late. So no process answers from a cache that predates the revocation once the call returned.
 */
import { performance } from 'node:perf_hooks';
import type { NoticeConfirmation, Store } from '../store.ts';

/** The longest any revocation-dependent cache entry may be reused, notices or not. */
export const REVOCATION_CACHE_MAX_MS = 5_000;

export type RevocationListener = (issuerId: string | null) => void;

export class RevocationNotices {
  private readonly listeners: RevocationListener[] = [];
  private readonly issuerListeners: Array<() => void> = [];
  private stoodBefore = false;
  private subscribing: Promise<void> | null = null;
  private up = false;
  /** Until when (performance.now()) the store vouches for the subscription; Infinity for a store without leases. */
  private leaseUntil = Number.POSITIVE_INFINITY;

  constructor(private readonly store: Pick<Store, 'onRevocation' | 'confirmRevocationNotices'>) {}

  /** Notices are being delivered: caches may answer (within REVOCATION_CACHE_MAX_MS). */
  get live(): boolean {
    return this.up && performance.now() < this.leaseUntil;
  }

  /** After a committed revocation: every process sharing the store has dropped its caches (or stopped trusting them). */
  confirm(): Promise<NoticeConfirmation> {
    return this.store.confirmRevocationNotices();
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
        issuersChanged: () => this.emitIssuers(),
        lease: (until) => {
          this.leaseUntil = until;
        },
        subscription: (live) => {
          // Up or down, whatever was cached before may have missed a notice.
          this.up = live;
          this.emit(null);
          // Issuer changes sent while it was down were lost too.
          if (live && this.stoodBefore) this.emitIssuers();
          if (live) this.stoodBefore = true;
        },
      })
      .catch(() => {
        // No subscription at all: caches stay off and every answer is read from the database.
        this.up = false;
      });
    return this.subscribing;
  }

  /** `listener()` whenever an issuer changed in another process (or may have, after a dropped subscription). */
  onIssuersChanged(listener: () => void): void {
    this.issuerListeners.push(listener);
    void this.start();
  }

  private emitIssuers(): void {
    for (const listener of this.issuerListeners) listener();
  }

  /** A revocation committed by this process: tell every listener before the call returns. */
  revokedHere(issuerId: string): void {
    this.emit(issuerId);
  }

  private emit(issuerId: string | null): void {
    for (const listener of this.listeners) listener(issuerId);
  }
}
