-- The audit trail becomes tamper-evident: every row carries a SHA-256 hash chained to the previous row's.
--
-- Chain order is `seq` (1, 2, 3, ... with no gaps), NOT `id`: ids are drawn from the sequence
-- before the chain lock is taken, so two writers may commit ids out of order. The BEFORE INSERT
-- trigger takes pg_advisory_xact_lock(7316421) (7316420 is the start-up lock), held to the end of
-- the writing transaction, so every process sharing the database appends to the ONE chain; the
-- unique index on seq refuses a fork should that ever fail (e.g. a REPEATABLE READ writer).
-- Whatever seq, prev_hash or hash an INSERT supplies is overwritten.
--
-- The canonical encoding (packages/ca/src/audit-chain.ts recomputes it; change both together):
--   text  = 'anvil-audit-v1' followed, for each field in this order, by a line feed and the field:
--           seq, at, actor, source, action, target, outcome, details, prev_hash
--   field = '-' when NULL, else <octet length of its UTF-8 bytes, decimal> ':' <its text>
--   seq       decimal, no sign, no leading zeros
--   at        UTC, microseconds, always 6 digits: to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
--   details   details::text, PostgreSQL's jsonb output (canonical: keys sorted by length then bytes,
--             duplicates dropped, ", " and ": " separators, numbers as stored). SQL NULL and the JSON
--             value null differ: '-' versus '4:null'.
--   prev_hash the previous row's hash (64 lower-case hex digits); NULL for seq 1
--   hash      = lower-case hex of sha256(convert_to(text, 'UTF8'))
CREATE OR REPLACE FUNCTION audit_log_chain_field(v text) RETURNS text AS $$
  SELECT CASE WHEN v IS NULL THEN '-' ELSE octet_length(convert_to(v, 'UTF8'))::text || ':' || v END;
$$ LANGUAGE sql IMMUTABLE;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION audit_log_chain_hash(
  seq bigint, at timestamptz, actor text, source text, action text, target text, outcome text, details jsonb, prev_hash text
) RETURNS text AS $$
  SELECT encode(sha256(convert_to(
    'anvil-audit-v1'
    || chr(10) || audit_log_chain_field(seq::text)
    || chr(10) || audit_log_chain_field(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    || chr(10) || audit_log_chain_field(actor)
    || chr(10) || audit_log_chain_field(source)
    || chr(10) || audit_log_chain_field(action)
    || chr(10) || audit_log_chain_field(target)
    || chr(10) || audit_log_chain_field(outcome)
    || chr(10) || audit_log_chain_field(details::text)
    || chr(10) || audit_log_chain_field(prev_hash),
    'UTF8')), 'hex');
$$ LANGUAGE sql STABLE;
--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "seq" bigint;--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "prev_hash" text;--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "hash" text;--> statement-breakpoint
-- Rows written by older versions are chained in id order (the append-only trigger is lifted for this only).
ALTER TABLE "audit_log" DISABLE TRIGGER audit_log_no_change;--> statement-breakpoint
DO $$
DECLARE
  r record;
  n bigint := 0;
  prev text := NULL;
BEGIN
  FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
    n := n + 1;
    UPDATE audit_log SET seq = n, prev_hash = prev,
      hash = audit_log_chain_hash(n, r.at, r.actor, r.source, r.action, r.target, r.outcome, r.details, prev)
      WHERE id = r.id
      RETURNING hash INTO prev;
  END LOOP;
END;
$$;
--> statement-breakpoint
ALTER TABLE "audit_log" ENABLE TRIGGER audit_log_no_change;--> statement-breakpoint
ALTER TABLE "audit_log" ALTER COLUMN "seq" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_log" ALTER COLUMN "hash" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "audit_log_seq" ON "audit_log" USING btree ("seq");--> statement-breakpoint
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger AS $$
DECLARE
  last record;
BEGIN
  PERFORM pg_advisory_xact_lock(7316421);
  -- A fresh snapshot per statement (READ COMMITTED): sees the row the previous lock holder committed.
  SELECT seq, hash INTO last FROM audit_log ORDER BY seq DESC LIMIT 1;
  NEW.seq := coalesce(last.seq, 0) + 1;
  NEW.prev_hash := last.hash;
  NEW.hash := audit_log_chain_hash(NEW.seq, NEW.at, NEW.actor, NEW.source, NEW.action, NEW.target, NEW.outcome, NEW.details, NEW.prev_hash);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
DROP TRIGGER IF EXISTS audit_log_chain ON audit_log;--> statement-breakpoint
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
