-- Sorting by name ignores case (ties by exact name), from an index.
CREATE INDEX tokens_account_name_folded ON tokens (account_id, lower(name), name);
