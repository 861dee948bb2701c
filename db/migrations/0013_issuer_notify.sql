-- Every process keeps the issuers in memory (packages/ca/src/issuer-registry.ts). When an issuer,
-- a trust anchor, a pending issuer or a cross-certificate changes in one process (created,
-- imported, retired, revoked), the others must reload: each such statement notifies the channel
-- anvil_revocation_issuers, which every process's notice connection listens on
-- (db/src/notification-listener.ts). Notices are sent at commit, and none for a rolled back change.
CREATE OR REPLACE FUNCTION anvil_notify_issuers() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('anvil_revocation_issuers', TG_TABLE_NAME);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
DROP TRIGGER IF EXISTS issuers_notify ON "issuers";--> statement-breakpoint
CREATE TRIGGER issuers_notify AFTER INSERT OR UPDATE OR DELETE ON "issuers" FOR EACH STATEMENT EXECUTE FUNCTION anvil_notify_issuers();--> statement-breakpoint
DROP TRIGGER IF EXISTS trust_anchors_notify ON "trust_anchors";--> statement-breakpoint
CREATE TRIGGER trust_anchors_notify AFTER INSERT OR UPDATE OR DELETE ON "trust_anchors" FOR EACH STATEMENT EXECUTE FUNCTION anvil_notify_issuers();--> statement-breakpoint
DROP TRIGGER IF EXISTS pending_issuers_notify ON "pending_issuers";--> statement-breakpoint
CREATE TRIGGER pending_issuers_notify AFTER INSERT OR UPDATE OR DELETE ON "pending_issuers" FOR EACH STATEMENT EXECUTE FUNCTION anvil_notify_issuers();--> statement-breakpoint
DROP TRIGGER IF EXISTS cross_certificates_notify ON "cross_certificates";--> statement-breakpoint
CREATE TRIGGER cross_certificates_notify AFTER INSERT OR UPDATE OR DELETE ON "cross_certificates" FOR EACH STATEMENT EXECUTE FUNCTION anvil_notify_issuers();
