-- A new account is a change too: the account search keeps every user name
-- in memory, and must see accounts made by another process (the command
-- line, another instance). Keep in step with migrations/sqlite.
CREATE TRIGGER accounts_changed_insert AFTER INSERT ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION whm_tokens_announce_change();
