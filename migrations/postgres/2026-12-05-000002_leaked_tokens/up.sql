-- A token reported leaked (POST /tokens/report-leaked): when, and from
-- which address. It is disabled at the same time; Regenerate clears both
-- and enables it again. The owner's notice is found by the partial index.
ALTER TABLE tokens ADD COLUMN leaked_at BIGINT;
ALTER TABLE tokens ADD COLUMN leaked_from TEXT;
CREATE INDEX tokens_leaked ON tokens (leaked_at) WHERE leaked_at IS NOT NULL;
