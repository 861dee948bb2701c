-- ACME (RFC 8555): nonces, accounts, orders, authorizations, challenges. 0014 and 0015 were
-- placeholders applied on deployed databases, so the tables arrive here.
-- Nonces live in the database so every process sharing it accepts the nonces of the others; one
-- is used up by the DELETE ... RETURNING that finds it, so a replay finds nothing.
CREATE TABLE IF NOT EXISTS "acme_nonces" (
	"nonce" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "acme_nonces_expires_at" ON "acme_nonces" USING btree ("expires_at");
--> statement-breakpoint
-- An account is a key (its JWK and RFC 7638 thumbprint, unique per profile: one account per key
-- and directory), bound at creation to an External Account Binding's limits when it had one.
CREATE TABLE IF NOT EXISTS "acme_accounts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"profile" text NOT NULL,
	"jwk" jsonb NOT NULL,
	"thumbprint" text NOT NULL,
	"status" text NOT NULL,
	"contact" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"eab_key_id" text,
	"limits" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "acme_accounts_thumbprint" ON "acme_accounts" USING btree ("profile","thumbprint");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "acme_orders" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL REFERENCES "acme_accounts"("id"),
	"profile" text NOT NULL,
	"identifiers" jsonb NOT NULL,
	"status" text NOT NULL,
	"expires" timestamp with time zone NOT NULL,
	"not_before" timestamp with time zone,
	"not_after" timestamp with time zone,
	"certificate_id" uuid,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "acme_orders_account" ON "acme_orders" USING btree ("account_id","created_at");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "acme_orders_certificate" ON "acme_orders" USING btree ("certificate_id");
--> statement-breakpoint
-- The per-name weekly limit counts issued orders by identifier.
CREATE INDEX IF NOT EXISTS "acme_orders_identifiers" ON "acme_orders" USING gin ("identifiers" jsonb_path_ops);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "acme_authorizations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"order_id" uuid NOT NULL REFERENCES "acme_orders"("id"),
	"account_id" uuid NOT NULL REFERENCES "acme_accounts"("id"),
	"identifier" jsonb NOT NULL,
	"wildcard" boolean DEFAULT false NOT NULL,
	"status" text NOT NULL,
	"expires" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "acme_authorizations_order" ON "acme_authorizations" USING btree ("order_id");
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "acme_challenges" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"authorization_id" uuid NOT NULL REFERENCES "acme_authorizations"("id"),
	"type" text NOT NULL,
	"token" text NOT NULL,
	"status" text NOT NULL,
	"validated" timestamp with time zone,
	"error" jsonb
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "acme_challenges_authorization" ON "acme_challenges" USING btree ("authorization_id");
