DROP TRIGGER accounts_changed_insert ON accounts;
