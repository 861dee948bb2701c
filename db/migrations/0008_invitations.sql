-- Enrollment invitations: an operator's one-use offer of one certificate to a partner without an
-- account. The secret in the URL is stored only as its SHA-256 (`secret_hash`); `limits` holds the
-- profile, fixed subject and SAN patterns as a token's limits do, `sans` the exact names (NULL:
-- the CSR's names, within the patterns). Used once: `used_at` and `certificate_id` are set in the
-- statement that records the certificate, so a second use of the same invitation writes nothing.
CREATE TABLE IF NOT EXISTS "invitations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"secret_hash" text NOT NULL,
	"profile" text NOT NULL,
	"limits" jsonb NOT NULL,
	"sans" jsonb,
	"ttl_seconds" integer,
	"expires_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"used_at" timestamp with time zone,
	"certificate_id" uuid,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "invitations_secret_hash" ON "invitations" USING btree ("secret_hash");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "invitations_created_at" ON "invitations" USING btree ("created_at","id");
