DROP INDEX IF EXISTS tokens_description_trigrams;
DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed
    AFTER UPDATE OF account_id, name, digest, expires_at, allowed_ips, privileges OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION whm_tokens_announce_change();
ALTER TABLE tokens DROP COLUMN description;
ALTER TABLE tokens DROP COLUMN enabled;
