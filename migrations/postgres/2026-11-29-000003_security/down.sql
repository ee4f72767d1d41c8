DROP INDEX sign_in_failures_window;
ALTER TABLE accounts DROP COLUMN suspension_locked;
