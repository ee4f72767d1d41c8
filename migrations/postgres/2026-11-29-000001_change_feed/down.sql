DROP INDEX tokens_account_expires_desc;
DROP INDEX tokens_account_expires_asc;
CREATE INDEX tokens_account_expires ON tokens (account_id, expires_at);
DROP TRIGGER accounts_changed ON accounts;
DROP TRIGGER tokens_changed ON tokens;
DROP FUNCTION whm_tokens_announce_change();
