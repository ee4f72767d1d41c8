DROP TRIGGER tokens_names_changed;
DROP TRIGGER tokens_counted_insert;
DROP TRIGGER tokens_counted_delete;
CREATE TRIGGER tokens_counted_insert AFTER INSERT ON tokens
BEGIN UPDATE accounts SET token_count = token_count + 1 WHERE id = new.account_id; END;
CREATE TRIGGER tokens_counted_delete AFTER DELETE ON tokens
BEGIN UPDATE accounts SET token_count = token_count - 1 WHERE id = old.account_id; END;
ALTER TABLE accounts DROP COLUMN token_names_version;
