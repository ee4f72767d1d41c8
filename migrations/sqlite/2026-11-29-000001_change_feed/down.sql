DROP INDEX tokens_account_expires_desc;
DROP INDEX tokens_account_expires_asc;
CREATE INDEX tokens_account_expires ON tokens (account_id, expires_at);
DROP TRIGGER accounts_changed_delete;
DROP TRIGGER accounts_changed_update;
DROP TRIGGER tokens_changed_delete;
DROP TRIGGER tokens_changed_update;
DROP TABLE auth_changes;
