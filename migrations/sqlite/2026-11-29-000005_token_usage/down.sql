DROP TABLE token_addresses;
DROP INDEX tokens_account_used_desc;
DROP INDEX tokens_account_used_asc;
DROP TRIGGER tokens_changed_update;
CREATE TRIGGER tokens_changed_update AFTER UPDATE ON tokens
BEGIN UPDATE auth_changes SET version = version + 1 WHERE id = 1; END;
ALTER TABLE tokens DROP COLUMN use_count;
ALTER TABLE tokens DROP COLUMN last_used_ip;
ALTER TABLE tokens DROP COLUMN last_used_at;
