DROP TABLE passkey_challenges_used;
DROP TABLE passkeys;
DROP FUNCTION whm_tokens_count_passkeys();
ALTER TABLE accounts DROP COLUMN passkey_count;
