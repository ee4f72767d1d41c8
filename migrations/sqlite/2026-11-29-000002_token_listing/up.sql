-- What the tokens page needs to cost one page whatever an owner holds.
-- Keep in step with migrations/postgres.

-- Each owner's number of tokens, kept by triggers: the unfiltered count is
-- one row, not a scan of the owner's tokens.
ALTER TABLE accounts ADD COLUMN token_count BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET token_count = (SELECT COUNT(*) FROM tokens WHERE tokens.account_id = accounts.id);
CREATE TRIGGER tokens_counted_insert AFTER INSERT ON tokens
BEGIN UPDATE accounts SET token_count = token_count + 1 WHERE id = new.account_id; END;
CREATE TRIGGER tokens_counted_delete AFTER DELETE ON tokens
BEGIN UPDATE accounts SET token_count = token_count - 1 WHERE id = old.account_id; END;

-- Searching names by substring from an index of trigrams (FTS5, built into
-- the bundled SQLite) instead of reading every name.
CREATE VIRTUAL TABLE tokens_names USING fts5(name, content='tokens', content_rowid='id', tokenize='trigram');
INSERT INTO tokens_names (tokens_names) VALUES ('rebuild');
CREATE TRIGGER tokens_names_insert AFTER INSERT ON tokens
BEGIN INSERT INTO tokens_names (rowid, name) VALUES (new.id, new.name); END;
CREATE TRIGGER tokens_names_delete AFTER DELETE ON tokens
BEGIN INSERT INTO tokens_names (tokens_names, rowid, name) VALUES ('delete', old.id, old.name); END;
CREATE TRIGGER tokens_names_update AFTER UPDATE OF name ON tokens
BEGIN
    INSERT INTO tokens_names (tokens_names, rowid, name) VALUES ('delete', old.id, old.name);
    INSERT INTO tokens_names (rowid, name) VALUES (new.id, new.name);
END;
