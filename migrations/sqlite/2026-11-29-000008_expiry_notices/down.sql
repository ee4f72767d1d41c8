DROP INDEX tokens_expires;
DROP TABLE expiry_notices;
ALTER TABLE accounts DROP COLUMN contact_email;
