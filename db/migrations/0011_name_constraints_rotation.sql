-- Name constraints and rotation (issue 14 items 4 and 5; packages/pki/src/name-constraints.ts,
-- packages/ca/src/issuer-rotation.ts). `name_constraints`: the normalised permitted / excluded
-- subtrees an intermediate's certificate carries (null: unconstrained), which issuance checks
-- before signing. `retired_at`: when a rotation retired the issuer (status 'retired': it signs no
-- more certificates but keeps publishing CRLs and OCSP answers for the ones it issued);
-- `successor_id`: the intermediate it was rotated to, which the default issuer follows.
ALTER TABLE "issuers" ADD COLUMN IF NOT EXISTS "name_constraints" jsonb;
--> statement-breakpoint
ALTER TABLE "issuers" ADD COLUMN IF NOT EXISTS "retired_at" timestamp with time zone;
--> statement-breakpoint
ALTER TABLE "issuers" ADD COLUMN IF NOT EXISTS "successor_id" uuid;
--> statement-breakpoint
-- Root rollover: the new root's subject and key certified by an older root, so that clients
-- trusting only the old root still reach the new hierarchy. One per (signer, subject) pair: its
-- URL /pki/issuers/{subject}/cross/{signer}.pem stays stable.
CREATE TABLE IF NOT EXISTS "cross_certificates" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"subject_issuer_id" uuid NOT NULL REFERENCES "issuers"("id"),
	"signer_issuer_id" uuid NOT NULL REFERENCES "issuers"("id"),
	"serial" text NOT NULL,
	"certificate_der" bytea NOT NULL,
	"not_before" timestamp with time zone NOT NULL,
	"not_after" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cross_certificates_pair" UNIQUE("signer_issuer_id", "subject_issuer_id"),
	CONSTRAINT "cross_certificates_signer_serial" UNIQUE("signer_issuer_id", "serial")
);
