-- The server merges the search index's segments in the background
-- (Db::merge_search_index): with usermerge at 2 its 'merge' command
-- merges any level that holds two segments, not only those with four,
-- so a grown store keeps about one segment per level. Keep in step with
-- migrations/postgres (nothing to do there).
INSERT INTO tokens_search (tokens_search, rank) VALUES ('usermerge', 2);
