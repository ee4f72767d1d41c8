-- The tokens page keeps each owner's token names and descriptions in
-- memory for its search (src/ops/token_names.rs). This number says when
-- they are stale: every token made, removed, renamed or described anew
-- bumps its owner's, whoever makes the change. Keep in step with
-- migrations/sqlite.
ALTER TABLE accounts ADD COLUMN token_names_version BIGINT NOT NULL DEFAULT 0;
CREATE OR REPLACE FUNCTION whm_tokens_count_tokens() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE accounts SET token_count = token_count + 1,
            token_names_version = token_names_version + 1
            WHERE id = NEW.account_id;
    ELSE
        UPDATE accounts SET token_count = token_count - 1,
            token_names_version = token_names_version + 1
            WHERE id = OLD.account_id;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE FUNCTION whm_tokens_token_names_changed() RETURNS trigger AS $$
BEGIN
    UPDATE accounts SET token_names_version = token_names_version + 1
        WHERE id = NEW.account_id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER tokens_names_changed AFTER UPDATE OF name, description ON tokens
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description)
    EXECUTE FUNCTION whm_tokens_token_names_changed();
