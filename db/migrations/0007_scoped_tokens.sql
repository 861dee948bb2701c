-- Scoped API tokens: a partner token's limits (profiles, sanPatterns, subject; NULL for none),
-- an optional expiry, and when it was last used (written at most once a minute per token).
-- A partner token's certificates are the ones whose requested_by is its id (the issuing actor).
ALTER TABLE "api_tokens" ADD COLUMN IF NOT EXISTS "limits" jsonb;
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN IF NOT EXISTS "expires_at" timestamp with time zone;
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN IF NOT EXISTS "last_used_at" timestamp with time zone;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "certificates_requested_by" ON "certificates" USING btree ("requested_by","created_at","id");
