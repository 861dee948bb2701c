DROP INDEX "certificates_revoked";--> statement-breakpoint
ALTER TABLE "issuers" ADD COLUMN "revoked_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "issuers" ADD COLUMN "revocation_reason" text;--> statement-breakpoint
CREATE INDEX "certificates_revoked" ON "certificates" USING btree ("issuer_id","serial") WHERE status = 'revoked';