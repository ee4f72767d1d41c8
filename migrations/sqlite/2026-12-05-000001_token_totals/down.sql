DROP INDEX accounts_token_counts;
