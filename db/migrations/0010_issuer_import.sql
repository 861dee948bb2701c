-- Issuers brought in from elsewhere (issue 14 items 2 and 3, packages/ca/src/issuer-import.ts).
-- `external_chain`: PEM of the certificates between an imported issuer and its external trust
-- anchor that Anvil holds no key for (nearest first); chain.pem serves them after the issuer.
ALTER TABLE "issuers" ADD COLUMN IF NOT EXISTS "external_chain" text;
--> statement-breakpoint
-- Roots Anvil trusts but holds no key for (an external root above an imported or externally
-- signed intermediate): published in the trust bundle, never used to sign.
CREATE TABLE IF NOT EXISTS "trust_anchors" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"subject" text NOT NULL,
	"certificate_der" bytea NOT NULL,
	"fingerprint_sha256" text NOT NULL,
	"not_after" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "trust_anchors_name_unique" UNIQUE("name"),
	CONSTRAINT "trust_anchors_fingerprint_unique" UNIQUE("fingerprint_sha256")
);
--> statement-breakpoint
-- An intermediate whose key Anvil holds and whose certificate an external root has yet to sign:
-- its CSR waits here, and the row moves to `issuers` when the signed certificate is imported.
CREATE TABLE IF NOT EXISTS "pending_issuers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"subject" text NOT NULL,
	"key_algorithm" text NOT NULL,
	"encrypted_key" bytea,
	"key_ref" text,
	"csr_der" bytea NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pending_issuers_name_unique" UNIQUE("name")
);
