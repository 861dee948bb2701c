-- Reserved and left empty (it was applied as a placeholder before the ACME tables existed): they are in 0016_acme.sql.
SELECT 1;
