-- Per-token issuance rate limit (packages/ca/src/rate-limit.ts): `rate_limit` is the token's own
-- certificates per minute (NULL: the configured default, ANVIL_ISSUE_RATE_LIMIT), `rate_tat` the
-- GCRA theoretical arrival time, moved by one conditional UPDATE per issuance so that every
-- process sharing the database shares the budget.
ALTER TABLE "api_tokens" ADD COLUMN IF NOT EXISTS "rate_limit" integer;
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN IF NOT EXISTS "rate_tat" timestamp with time zone;
