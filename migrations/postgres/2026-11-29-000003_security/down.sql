ALTER TABLE sessions DROP COLUMN last_seen;
ALTER TABLE sessions DROP COLUMN created_at;
DROP INDEX sign_in_failures_window;
ALTER TABLE accounts DROP COLUMN suspension_locked;
