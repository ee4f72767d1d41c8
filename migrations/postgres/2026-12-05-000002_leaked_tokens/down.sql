DROP INDEX tokens_leaked;
ALTER TABLE tokens DROP COLUMN leaked_from;
ALTER TABLE tokens DROP COLUMN leaked_at;
