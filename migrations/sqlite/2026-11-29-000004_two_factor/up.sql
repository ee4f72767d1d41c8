-- Two-factor sign-in (TOTP): the secret, sealed with a key derived from the
-- session key; the last time step used (a code works once); recovery codes
-- as digests; and settings root chooses (whether resellers must use it).
ALTER TABLE accounts ADD COLUMN totp_secret BLOB;
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
CREATE TABLE recovery_codes (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    digest BLOB NOT NULL,
    PRIMARY KEY (account_id, digest)
);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
