INSERT INTO tokens_search (tokens_search, rank) VALUES ('usermerge', 4);
