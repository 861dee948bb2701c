CREATE TABLE "serial_reservations" (
	"issuer_id" uuid NOT NULL,
	"serial" text NOT NULL,
	"reserved_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "certificates" ADD COLUMN "superseded_by" uuid;--> statement-breakpoint
ALTER TABLE "serial_reservations" ADD CONSTRAINT "serial_reservations_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "serial_reservations_pk" ON "serial_reservations" USING btree ("issuer_id","serial");