-- The audit trail: what changed or tried to use a token or an account.
-- Names are kept as they were (an event outlives a rename or a deletion);
-- ids say whose it is, for who may see it. Refusals strangers can cause are
-- counted into one row per address, minute and reason (`bucket`).
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT,
    actor_id BIGINT,
    token TEXT,
    target TEXT,
    target_id BIGINT,
    owner_id BIGINT,
    ip TEXT,
    request_id TEXT,
    detail TEXT NOT NULL DEFAULT '',
    count BIGINT NOT NULL DEFAULT 1,
    bucket TEXT UNIQUE
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, at);
CREATE INDEX audit_events_target ON audit_events (target_id, at);
CREATE INDEX audit_events_owner ON audit_events (owner_id, at);
