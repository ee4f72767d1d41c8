-- Pausing a token without deleting it, and saying what it is for.
ALTER TABLE tokens ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- Whether a token is enabled is checked on every call: changing it must
-- tell the instances.
DROP TRIGGER tokens_changed_update;
CREATE TRIGGER tokens_changed_update
AFTER UPDATE OF account_id, name, digest, expires_at, allowed_ips, privileges, enabled ON tokens
BEGIN UPDATE auth_changes SET version = version + 1 WHERE id = 1; END;
-- The search finds descriptions too: the trigram index holds both.
DROP TRIGGER tokens_names_insert;
DROP TRIGGER tokens_names_delete;
DROP TRIGGER tokens_names_update;
DROP TABLE tokens_names;
CREATE VIRTUAL TABLE tokens_search USING fts5(name, description, content='tokens', content_rowid='id', tokenize='trigram');
INSERT INTO tokens_search (tokens_search) VALUES ('rebuild');
CREATE TRIGGER tokens_search_insert AFTER INSERT ON tokens
BEGIN INSERT INTO tokens_search (rowid, name, description) VALUES (new.id, new.name, new.description); END;
CREATE TRIGGER tokens_search_delete AFTER DELETE ON tokens
BEGIN INSERT INTO tokens_search (tokens_search, rowid, name, description) VALUES ('delete', old.id, old.name, old.description); END;
CREATE TRIGGER tokens_search_update AFTER UPDATE OF name, description ON tokens
BEGIN
    INSERT INTO tokens_search (tokens_search, rowid, name, description) VALUES ('delete', old.id, old.name, old.description);
    INSERT INTO tokens_search (rowid, name, description) VALUES (new.id, new.name, new.description);
END;
