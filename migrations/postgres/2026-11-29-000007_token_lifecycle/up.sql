-- Pausing a token without deleting it, and saying what it is for.
ALTER TABLE tokens ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- Whether a token is enabled is checked on every call: changing it must
-- tell the instances.
DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed
    AFTER UPDATE OF account_id, name, digest, expires_at, allowed_ips, privileges, enabled OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION whm_tokens_announce_change();
-- The search finds descriptions too, from the trigram index when there is one.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX tokens_description_trigrams ON tokens USING gin (description gin_trgm_ops)
            WITH (fastupdate = off);
    END IF;
END $$;
