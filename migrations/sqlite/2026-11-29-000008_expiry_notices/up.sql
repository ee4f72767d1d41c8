-- Where an account's expiry notices go (optional).
ALTER TABLE accounts ADD COLUMN contact_email TEXT;
-- One row per notice and channel: claimed by one instance at a time, and
-- kept once sent, so that no notice goes out twice. A token given a new
-- expiry starts afresh (the expiry is part of the key).
CREATE TABLE expiry_notices (
    token_id BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    threshold TEXT NOT NULL,
    channel TEXT NOT NULL,
    sent BOOLEAN NOT NULL DEFAULT FALSE,
    claimed_until BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (token_id, expires_at, threshold, channel)
);
-- The checker walks the tokens that expire soon (or just did), whoever owns them.
CREATE INDEX tokens_expires ON tokens (expires_at, id);
