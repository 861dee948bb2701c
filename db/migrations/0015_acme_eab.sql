-- Reserved and left empty (it was applied as a placeholder before the EAB table existed): it is in 0017_acme_eab.sql.
SELECT 1;
