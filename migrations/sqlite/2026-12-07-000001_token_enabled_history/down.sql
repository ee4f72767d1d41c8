DROP INDEX tokens_enabled_at;
ALTER TABLE tokens DROP COLUMN enabled_before_leak;
ALTER TABLE tokens DROP COLUMN enabled_at;
