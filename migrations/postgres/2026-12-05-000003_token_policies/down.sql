DROP TABLE token_policies;
