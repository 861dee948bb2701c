-- ACME (RFC 8555): nonces, accounts, orders, authorizations, challenges. Filled in by the ACME change.
SELECT 1;
