-- Root's token policy (the row of the root account: everyone's) and
-- resellers' overrides (a reseller's row; a NULL rule keeps everyone's).
-- 0 or an empty list turns a rule off. Read into every cached token check,
-- so every change is announced like a change to a token.
CREATE TABLE token_policies (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    max_lifetime_days BIGINT,
    require_ip_for TEXT,
    disable_unused_days BIGINT,
    delete_expired_days BIGINT
);
CREATE TRIGGER token_policies_changed AFTER INSERT OR UPDATE OR DELETE ON token_policies
    FOR EACH STATEMENT EXECUTE FUNCTION whm_tokens_announce_change();
