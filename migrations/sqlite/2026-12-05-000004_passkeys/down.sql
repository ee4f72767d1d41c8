DROP TABLE passkey_challenges_used;
DROP TABLE passkeys;
ALTER TABLE accounts DROP COLUMN passkey_count;
