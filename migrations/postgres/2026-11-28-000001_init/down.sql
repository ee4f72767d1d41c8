DROP TABLE login_links;
DROP TABLE sign_in_failures;
DROP TABLE sessions;
DROP TABLE tokens;
DROP TABLE accounts;
