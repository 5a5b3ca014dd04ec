-- Each movie's year, for GET /api/latest (newest first). MovieLens records no time a
-- movie was added, so the year is the release year its title ends with ("Heat (1995)"),
-- else the year streamrec stored the movie (created_at, UTC). Kept by Postgres from the
-- row, so an import that retitles a movie moves it in the same statement.
-- depends: 0009_genres

ALTER TABLE movies ADD COLUMN year integer NOT NULL GENERATED ALWAYS AS (
    coalesce(substring(title FROM '\((\d{4})\)\s*$')::integer,
             extract(year FROM created_at AT TIME ZONE 'UTC')::integer)) STORED;
-- The latest chart reads this index in order (ties: stored later first, then by id).
CREATE INDEX movies_latest_idx ON movies (year DESC, created_at DESC, id DESC);
