-- The tokens page keeps each owner's token names and descriptions in
-- memory for its search (src/ops/token_names.rs). This number says when
-- they are stale: every token made, removed, renamed or described anew
-- bumps its owner's, whoever makes the change. Keep in step with
-- migrations/postgres.
ALTER TABLE accounts ADD COLUMN token_names_version BIGINT NOT NULL DEFAULT 0;
DROP TRIGGER tokens_counted_insert;
DROP TRIGGER tokens_counted_delete;
CREATE TRIGGER tokens_counted_insert AFTER INSERT ON tokens
BEGIN UPDATE accounts SET token_count = token_count + 1,
    token_names_version = token_names_version + 1 WHERE id = new.account_id; END;
CREATE TRIGGER tokens_counted_delete AFTER DELETE ON tokens
BEGIN UPDATE accounts SET token_count = token_count - 1,
    token_names_version = token_names_version + 1 WHERE id = old.account_id; END;
CREATE TRIGGER tokens_names_changed AFTER UPDATE OF name, description ON tokens
WHEN old.name IS NOT new.name OR old.description IS NOT new.description
BEGIN UPDATE accounts SET token_names_version = token_names_version + 1
    WHERE id = new.account_id; END;
