DROP INDEX movies_latest_idx;
ALTER TABLE movies DROP COLUMN year;
