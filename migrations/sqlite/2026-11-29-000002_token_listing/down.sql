DROP TRIGGER tokens_names_update;
DROP TRIGGER tokens_names_delete;
DROP TRIGGER tokens_names_insert;
DROP TABLE tokens_names;
DROP TRIGGER tokens_counted_delete;
DROP TRIGGER tokens_counted_insert;
ALTER TABLE accounts DROP COLUMN token_count;
