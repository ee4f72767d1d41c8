DROP TRIGGER tokens_search_insert;
DROP TRIGGER tokens_search_delete;
DROP TRIGGER tokens_search_update;
DROP TABLE tokens_search;
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
DROP TRIGGER tokens_changed_update;
CREATE TRIGGER tokens_changed_update
AFTER UPDATE OF account_id, name, digest, expires_at, allowed_ips, privileges ON tokens
BEGIN UPDATE auth_changes SET version = version + 1 WHERE id = 1; END;
ALTER TABLE tokens DROP COLUMN description;
ALTER TABLE tokens DROP COLUMN enabled;
