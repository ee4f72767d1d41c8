-- A counter that every change to a token or an account bumps, whoever makes
-- it (this instance, another one, the command line): instances read it to
-- know that what they keep in memory is stale. Keep in step with
-- migrations/postgres, which notifies instead.
CREATE TABLE auth_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO auth_changes (id, version) VALUES (1, 0);
CREATE TRIGGER tokens_changed_update AFTER UPDATE ON tokens
BEGIN UPDATE auth_changes SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER tokens_changed_delete AFTER DELETE ON tokens
BEGIN UPDATE auth_changes SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_changed_update
AFTER UPDATE OF username, kind, owner_id, privileges, suspended ON accounts
BEGIN UPDATE auth_changes SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_changed_delete AFTER DELETE ON accounts
BEGIN UPDATE auth_changes SET version = version + 1 WHERE id = 1; END;

-- Sorting by expiry, "never" last, both ways, from an index.
DROP INDEX tokens_account_expires;
CREATE INDEX tokens_account_expires_asc ON tokens (account_id, (expires_at IS NULL), expires_at, id);
CREATE INDEX tokens_account_expires_desc ON tokens (account_id, (expires_at IS NULL), expires_at DESC, id DESC);
