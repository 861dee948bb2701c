-- ACME External Account Binding credentials (RFC 8555 section 7.3.4). Filled in by the EAB change.
SELECT 1;
