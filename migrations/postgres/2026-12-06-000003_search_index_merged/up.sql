-- SQLite's search index is merged in the background from this version on
-- (see migrations/sqlite). pg_trgm's GIN indexes are kept by autovacuum:
-- nothing to do here, but the versions stay in step.
SELECT 1;
