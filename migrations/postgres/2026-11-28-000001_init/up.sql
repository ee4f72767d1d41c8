-- Portable schema: epoch seconds for times, text for lists (parsed by the
-- domain newtypes), bytes for digests. Keep in step with migrations/sqlite.
CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('root', 'reseller', 'user')),
    owner_id BIGINT REFERENCES accounts (id),
    password_hash TEXT,
    privileges TEXT NOT NULL DEFAULT '',
    suspended BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX accounts_owner_id ON accounts (owner_id, username);

CREATE TABLE tokens (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    digest BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    allowed_ips TEXT NOT NULL DEFAULT '',
    privileges TEXT NOT NULL
);
-- Authenticating a call is one lookup by digest.
CREATE UNIQUE INDEX tokens_digest ON tokens (digest);
-- Names are unique per owner; this index also serves lookups and sorting by name.
CREATE UNIQUE INDEX tokens_account_name ON tokens (account_id, name);
-- The default listing: an owner's tokens, newest first.
CREATE INDEX tokens_account_created ON tokens (account_id, created_at, id);
CREATE INDEX tokens_account_expires ON tokens (account_id, expires_at);

CREATE TABLE sessions (
    key_digest BYTEA PRIMARY KEY,
    account_id BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account_id ON sessions (account_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE sign_in_failures (
    scope_key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start BIGINT NOT NULL
);

CREATE TABLE login_links (
    digest BYTEA PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
