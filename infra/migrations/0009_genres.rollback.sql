DROP INDEX movies_genres_idx;
ALTER TABLE movies DROP COLUMN genres;
