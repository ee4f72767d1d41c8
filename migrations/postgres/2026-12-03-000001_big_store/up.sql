-- A big host's store: every view reads an index in its own order and stops
-- at a page.
-- The activity's filters by kind of event and by token, newest first.
CREATE INDEX audit_events_event ON audit_events (event, at);
CREATE INDEX audit_events_token ON audit_events (token, at);
-- Root's /tokens/all, every account's tokens in each sort (the per-account
-- indexes serve one owner's).
CREATE INDEX tokens_created ON tokens (created_at, id);
CREATE INDEX tokens_name_folded ON tokens (lower(name), name);
CREATE INDEX tokens_expires_asc ON tokens ((expires_at IS NULL), expires_at, id);
CREATE INDEX tokens_expires_desc ON tokens ((expires_at IS NULL), expires_at DESC, id DESC);
CREATE INDEX tokens_used_asc ON tokens ((last_used_at IS NULL), last_used_at, id);
CREATE INDEX tokens_used_desc ON tokens ((last_used_at IS NULL), last_used_at DESC, id DESC);
