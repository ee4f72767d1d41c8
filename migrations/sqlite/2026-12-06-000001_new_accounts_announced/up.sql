-- A new account is a change too: the account search keeps every user name
-- in memory, and must see accounts made by another process (the command
-- line, another instance). Keep in step with migrations/postgres.
CREATE TRIGGER accounts_changed_insert AFTER INSERT ON accounts
BEGIN UPDATE auth_changes SET version = version + 1 WHERE id = 1; END;
