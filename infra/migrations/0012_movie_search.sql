-- Searching movies by title (GET /api/movies/search and the page's search box): a
-- trigram index answers both a substring match (title ILIKE '%heat%') and a
-- misspelt word (word similarity: "godfater" finds "Godfather, The (1972)") without
-- reading every movie. pg_trgm ships with Postgres (contrib) and is a trusted
-- extension, so the database's owner may create it.
-- depends: 0010_latest

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX movies_title_trgm_idx ON movies USING gin (title gin_trgm_ops);
