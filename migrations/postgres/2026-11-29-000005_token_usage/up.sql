-- When, from where and how often each token was used: written in batches
-- by the instances (the newest time wins), never once per call.
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_ip TEXT;
ALTER TABLE tokens ADD COLUMN use_count BIGINT NOT NULL DEFAULT 0;
-- Recording a use is no change to what a call is checked against: it must
-- not make instances drop the tokens they keep in memory.
DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed
    AFTER UPDATE OF account_id, name, digest, expires_at, allowed_ips, privileges OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION whm_tokens_announce_change();
-- Sorting by last use, "never" last, both ways, from an index.
CREATE INDEX tokens_account_used_asc ON tokens (account_id, (last_used_at IS NULL), last_used_at, id);
CREATE INDEX tokens_account_used_desc ON tokens (account_id, (last_used_at IS NULL), last_used_at DESC, id DESC);
-- The addresses each token was used from, to notice a new one.
CREATE TABLE token_addresses (
    token_id BIGINT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (token_id, address)
);
