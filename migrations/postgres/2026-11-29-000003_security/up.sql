-- Root's suspension of an account a reseller owns: only root may lift it.
ALTER TABLE accounts ADD COLUMN suspension_locked BOOLEAN NOT NULL DEFAULT FALSE;
-- Expired throttle windows are deleted by time.
CREATE INDEX sign_in_failures_window ON sign_in_failures (window_start);
-- Sessions a person can see and end: when each began (for the absolute
-- lifetime) and was last used.
ALTER TABLE sessions ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_seen BIGINT NOT NULL DEFAULT 0;
