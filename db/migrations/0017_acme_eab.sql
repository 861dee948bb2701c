-- ACME External Account Binding credentials (RFC 8555 section 7.3.4), packages/ca/src/acme/eab.ts.
-- (0015_acme_eab.sql is an applied placeholder and stays empty.) The HMAC key is stored only
-- encrypted under the key-encryption key (`encrypted_hmac_key`, context "acme-eab:<key_id>");
-- `limits` holds the profiles, SAN patterns and fixed subject as a scoped token's limits do. A
-- credential binds one account once: `bound_at` and `account_id` are set by one conditional UPDATE
-- in the new-account transaction.
CREATE TABLE IF NOT EXISTS "acme_eab_credentials" (
	"key_id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"encrypted_hmac_key" bytea NOT NULL,
	"limits" jsonb NOT NULL,
	"expires_at" timestamp with time zone,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	"bound_at" timestamp with time zone,
	"account_id" uuid
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "acme_eab_credentials_created_at" ON "acme_eab_credentials" USING btree ("created_at");
