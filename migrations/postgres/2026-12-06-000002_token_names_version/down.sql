DROP TRIGGER tokens_names_changed ON tokens;
DROP FUNCTION whm_tokens_token_names_changed();
CREATE OR REPLACE FUNCTION whm_tokens_count_tokens() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE accounts SET token_count = token_count + 1 WHERE id = NEW.account_id;
    ELSE
        UPDATE accounts SET token_count = token_count - 1 WHERE id = OLD.account_id;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
ALTER TABLE accounts DROP COLUMN token_names_version;
