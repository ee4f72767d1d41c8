-- When a person last enabled the token: root's policy counts disuse from
-- the latest of its last use, its creation and this, so that a token
-- enabled again is not disabled again at the next round. And whether it
-- was enabled when reported leaked (the report disables it): Regenerate
-- gives back that state, not always "enabled". Keep in step with the
-- other backend's migration.
ALTER TABLE tokens ADD COLUMN enabled_at BIGINT;
ALTER TABLE tokens ADD COLUMN enabled_before_leak BOOLEAN;
CREATE INDEX tokens_enabled_at ON tokens (enabled_at) WHERE enabled_at IS NOT NULL;
