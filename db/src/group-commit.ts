/**
 * Group commit: concurrent writes share one transaction, so one commit (one WAL flush) and one
 * take of the audit chain's lock serve many of them.
 *
 * Nothing waits for a group to fill: the first write runs at once; writes that arrive while a
 * group is committing form the next group, which starts when that one has committed. Under no
 * load a write is a transaction of one; under load the groups grow to what arrived during one
 * commit (at most `maxGroup`), which is where the time went before: every issuance held the audit
 * chain's advisory lock through its own commit.
 *
 * Each write keeps its own statement (and so its own conditions: an Idempotency-Key, a renewal, an
 * invitation), run in the group's transaction; a caller is answered only after the group's COMMIT
 * returned, so its row is durable before its response is sent. If any statement or the commit
 * fails, the transaction rolls back and every write of that group fails with that error: nothing
 * of it was written, and each caller handles its failure as it would its own (issuance audits the
 * serial it had signed). Writes of other groups are not affected.
 *
 * One exception: a group that lost a deadlock. A write of one statement takes its row locks (an
 * Idempotency-Key, a renewed certificate, an invitation) before the audit chain's lock; a group
 * already holds the chain's lock when its later writes take theirs, so two transactions can wait
 * on each other (PostgreSQL aborts one after deadlock_timeout). Nothing of the aborted group was
 * written, so its writes are retried one transaction each, which is the order every other writer
 * uses and cannot deadlock so.
 */
export interface GroupItem<S, R> {
  statement: S;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<S, R> {
  private pending: GroupItem<S, R>[] = [];
  private running = false;
  /** How many writes and transactions so far, and the largest group: what shows grouping happens. */
  readonly stats = { writes: 0, groups: 0, largest: 0 };

  constructor(
    private readonly run: {
      /** Runs the statements in one transaction and returns their results in order. */
      group: (statements: S[]) => Promise<R[]>;
      /** Runs one statement in a transaction of its own. */
      alone: (statement: S) => Promise<R>;
      /** The group's failure was a deadlock it lost: retry its writes alone. */
      retryAlone: (err: unknown) => boolean;
    },
    private readonly maxGroup = 256,
  ) {}

  /** Resolves with this statement's result once the transaction holding it has committed. */
  write(statement: S): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ statement, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length) {
        const group = this.pending.splice(0, this.maxGroup);
        this.stats.writes += group.length;
        this.stats.groups += 1;
        this.stats.largest = Math.max(this.stats.largest, group.length);
        try {
          // A group of one needs no transaction around its one statement (one round trip, not three).
          const results =
            group.length === 1 ? [await this.run.alone(group[0].statement)] : await this.run.group(group.map((g) => g.statement));
          for (const [i, g] of group.entries()) g.resolve(results[i]);
        } catch (err) {
          if (group.length > 1 && this.run.retryAlone(err)) {
            await Promise.all(group.map((g) => this.run.alone(g.statement).then(g.resolve, g.reject)));
          } else {
            for (const g of group) g.reject(err);
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}
