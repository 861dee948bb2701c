/**
 * Where a certificate serial is made: 16 bytes from the CSPRNG, DER-minimal and positive
 * (@anvil/pki serialFromRandom), and recorded in the database before anything is signed with it.
 *
 * Recording first means a certificate is never signed that the database does not know of, even
 * when the insert of its row fails afterwards (the database went away, a constraint refused it).
 * Serials are reserved a batch at a time per issuer, so issuance pays one round trip per batch,
 * not per certificate; a process that stops leaves a few reserved serials unused, which is
 * harmless (nothing was signed with them). Reservations are unique per issuer in the database,
 * so processes sharing it never hand out the same serial.
 */
import { randomBytes } from 'node:crypto';
import { serialFromRandom, serialToHex } from '@anvil/pki';
import type { StoreTx } from './store.ts';

const BATCH = 32;

export interface ReservedSerial {
  bytes: Uint8Array;
  hex: string;
}

export class SerialReservations {
  private readonly pools = new Map<string, ReservedSerial[]>();
  private readonly refills = new Map<string, Promise<void>>();

  constructor(private readonly store: Pick<StoreTx, 'reserveSerials'>) {}

  /** A serial for `issuerId`, already on record. */
  async take(issuerId: string): Promise<ReservedSerial> {
    for (;;) {
      const serial = this.pools.get(issuerId)?.pop();
      if (serial) return serial;
      await this.refill(issuerId);
    }
  }

  private refill(issuerId: string): Promise<void> {
    let pending = this.refills.get(issuerId);
    if (!pending) {
      pending = (async () => {
        const drawn = new Map<string, Uint8Array>();
        while (drawn.size < BATCH) {
          const bytes = serialFromRandom(randomBytes(16));
          drawn.set(serialToHex(bytes), bytes);
        }
        const reserved = await this.store.reserveSerials(issuerId, [...drawn.keys()]);
        const pool = this.pools.get(issuerId) ?? [];
        for (const hex of reserved) pool.push({ hex, bytes: drawn.get(hex)! });
        this.pools.set(issuerId, pool);
      })().finally(() => this.refills.delete(issuerId));
      this.refills.set(issuerId, pending);
    }
    return pending;
  }
}
