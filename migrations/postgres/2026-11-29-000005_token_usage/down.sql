DROP TABLE token_addresses;
DROP INDEX tokens_account_used_desc;
DROP INDEX tokens_account_used_asc;
DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed AFTER UPDATE OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION whm_tokens_announce_change();
ALTER TABLE tokens DROP COLUMN use_count;
ALTER TABLE tokens DROP COLUMN last_used_ip;
ALTER TABLE tokens DROP COLUMN last_used_at;
