-- The extension stays: another schema of the same database may use it.
DROP INDEX movies_title_trgm_idx;
