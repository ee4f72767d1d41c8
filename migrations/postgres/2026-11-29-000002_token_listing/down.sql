DROP INDEX IF EXISTS tokens_name_trigrams;
DROP TRIGGER tokens_counted ON tokens;
DROP FUNCTION whm_tokens_count_tokens();
ALTER TABLE accounts DROP COLUMN token_count;
