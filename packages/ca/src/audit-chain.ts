/** The audit trail's hash chain: its canonical encoding (as migration 0006 computes it) and the verifier that walks it. */
import { createHash } from 'node:crypto';
import type { AuditChainRow, StoreTx } from './store.ts';

/**
 * The text each row's hash covers; db/migrations/0006_audit_chain.sql (`audit_log_chain_hash`)
 * builds the same bytes in SQL, so change both together (and bump the version tag):
 *
 *   'anvil-audit-v1', then for each of seq, at, actor, source, action, target, outcome, details,
 *   prev_hash in this order: a line feed and the field, written '-' when NULL, else
 *   <byte length of its UTF-8, decimal> ':' <the text>.
 *
 * seq is decimal; at is UTC with six fractional digits (`2031-01-02T03:04:05.123456Z`: PostgreSQL
 * keeps microseconds, a JS Date does not, so the store hands the time over as text); details is
 * PostgreSQL's jsonb output (`details::text`: keys sorted by length then bytes, ", " and ": "
 * separators, numbers as stored), again as text from the store, because re-serialising parsed
 * JSON in JavaScript would not reproduce numbers such as 1.50; prev_hash is the previous row's
 * hash, NULL for seq 1. The hash is the lower-case hex SHA-256 of the text's UTF-8 bytes.
 */
export function auditChainText(row: Omit<AuditChainRow, 'id' | 'hash'>): string {
  const field = (v: string | null) => (v === null ? '-' : `${Buffer.byteLength(v, 'utf8')}:${v}`);
  return [
    'anvil-audit-v1',
    ...[row.seq, row.at, row.actor, row.source, row.action, row.target, row.outcome, row.details, row.prevHash].map(field),
  ].join('\n');
}

export function auditChainHash(row: Omit<AuditChainRow, 'id' | 'hash'>): string {
  return createHash('sha256').update(auditChainText(row), 'utf8').digest('hex');
}

export type AuditChainProblem = 'altered' | 'deleted' | 'inserted_out_of_order';

export interface AuditChainReport {
  ok: boolean;
  /** Rows read (up to and including the first bad one). */
  rows: number;
  /** The last good row: what an operator may note down (or publish) to detect a cut tail later. */
  head?: { seq: string; hash: string };
  /**
   * The first row at which the chain breaks. `altered`: the row's content no longer matches its
   * hash. `deleted`: rows before it are missing (seq `missing.fromSeq`..`missing.toSeq`).
   * `inserted_out_of_order`: a row whose hash matches its content but which does not follow its
   * predecessor (its prev_hash names another row, or its seq repeats or goes back).
   */
  firstBad?: { seq: string; id: string; problem: AuditChainProblem; detail: string; missing?: { fromSeq: string; toSeq: string } };
}

export const AUDIT_CHAIN_PAGE = 1000;

/**
 * Walks the whole chain in seq order, one page at a time (never the table in memory), and stops
 * at the first break. Rows appended while it walks are read too. A chain cannot show rows cut
 * from its end, nor a chain rewritten from some row on by someone who recomputes every hash:
 * compare `head` with one recorded earlier for that.
 */
export async function verifyAuditChain(store: Pick<StoreTx, 'auditChainPage'>, pageSize = AUDIT_CHAIN_PAGE): Promise<AuditChainReport> {
  let prev: AuditChainRow | null = null;
  let rows = 0;
  const bad = (row: AuditChainRow, problem: AuditChainProblem, detail: string, extra: object = {}): AuditChainReport => ({
    ok: false,
    rows,
    ...(prev ? { head: { seq: prev.seq, hash: prev.hash } } : {}),
    firstBad: { seq: row.seq, id: row.id, problem, detail, ...extra },
  });
  for (;;) {
    const page = await store.auditChainPage(prev?.seq ?? null, pageSize);
    for (const row of page) {
      rows++;
      if (auditChainHash(row) !== row.hash) return bad(row, 'altered', 'the row no longer matches its hash');
      const seq = BigInt(row.seq);
      const expected = prev ? BigInt(prev.seq) + 1n : 1n;
      if (seq > expected) {
        return bad(row, 'deleted', `rows ${expected}..${seq - 1n} are missing before this one`, {
          missing: { fromSeq: expected.toString(), toSeq: (seq - 1n).toString() },
        });
      }
      if (seq < expected) return bad(row, 'inserted_out_of_order', `seq ${seq} repeats or goes back after ${prev!.seq}`);
      if (row.prevHash !== (prev?.hash ?? null)) {
        return bad(row, 'inserted_out_of_order', prev ? `prev_hash does not name row ${prev.seq}` : 'the first row names a predecessor');
      }
      prev = row;
    }
    if (page.length < pageSize) break;
  }
  return { ok: true, rows, ...(prev ? { head: { seq: prev.seq, hash: prev.hash } } : {}) };
}
