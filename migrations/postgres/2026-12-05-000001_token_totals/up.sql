-- The token count of every account (root's /tokens/all) or of a reseller's
-- accounts, summed from this index alone rather than from the accounts'
-- rows: at 10,000 accounts the rows are a few MiB, the index a few pages.
CREATE INDEX accounts_token_counts ON accounts (owner_id, token_count);
