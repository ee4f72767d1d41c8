-- Every change to a token or an account, whoever makes it (this instance,
-- another one, the command line), is announced at commit on the channel
-- whm_tokens_changes: instances listen, and drop what they keep in memory.
-- Keep in step with migrations/sqlite, which counts instead.
CREATE FUNCTION whm_tokens_announce_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('whm_tokens_changes', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER tokens_changed AFTER UPDATE OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION whm_tokens_announce_change();
CREATE TRIGGER accounts_changed
    AFTER UPDATE OF username, kind, owner_id, privileges, suspended OR DELETE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION whm_tokens_announce_change();

-- Sorting by expiry, "never" last, both ways, from an index.
DROP INDEX tokens_account_expires;
CREATE INDEX tokens_account_expires_asc ON tokens (account_id, (expires_at IS NULL), expires_at, id);
CREATE INDEX tokens_account_expires_desc ON tokens (account_id, (expires_at IS NULL), expires_at DESC, id DESC);
