DROP INDEX tokens_used_desc;
DROP INDEX tokens_used_asc;
DROP INDEX tokens_expires_desc;
DROP INDEX tokens_expires_asc;
DROP INDEX tokens_name_folded;
DROP INDEX tokens_created;
DROP INDEX audit_events_token;
DROP INDEX audit_events_event;
