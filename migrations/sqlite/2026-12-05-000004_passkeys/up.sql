-- Passkeys (WebAuthn credentials), as a second factor and for signing in
-- without a password. `passkey` is webauthn-rs's Passkey as JSON (the
-- public key, the signature counter, the backup flags); `credential_id`
-- (base64url) is unique across accounts, as WebAuthn requires;
-- `user_handle` is the account's WebAuthn user id (a random UUID, the same
-- for all of an account's passkeys).
CREATE TABLE passkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL,
    user_handle TEXT NOT NULL,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX passkeys_credential ON passkeys (credential_id);
CREATE INDEX passkeys_account ON passkeys (account_id);
-- Challenges of passwordless sign-ins already answered: the ceremony's
-- state travels sealed in a cookie (a stranger's visit stores nothing), so
-- an answer is taken once by recording its challenge here until it expires.
CREATE TABLE passkey_challenges_used (
    digest BLOB PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
-- How many passkeys each account has, counted by the store itself: read
-- with the account, it says whether two-factor sign-in is on.
ALTER TABLE accounts ADD COLUMN passkey_count BIGINT NOT NULL DEFAULT 0;
CREATE TRIGGER passkeys_counted_insert AFTER INSERT ON passkeys
BEGIN UPDATE accounts SET passkey_count = passkey_count + 1 WHERE id = new.account_id; END;
CREATE TRIGGER passkeys_counted_delete AFTER DELETE ON passkeys
BEGIN UPDATE accounts SET passkey_count = passkey_count - 1 WHERE id = old.account_id; END;
