-- CRLs are stored without compression. A CRL of a million entries is about 47 MB; pglz halved it
-- but took seconds to compress it in every publication (measured in test/bench/crl.ts), while the
-- serials that make up a third of it are random. EXTERNAL keeps it out of line, uncompressed.
-- Rows written before keep their compressed form until their next publication replaces them.
ALTER TABLE "crls" ALTER COLUMN "der" SET STORAGE EXTERNAL;
