-- Each movie's JSON object as the suggestions API returns it, less its score: the
-- API's query concatenates these cards instead of encoding every row per request.
-- Kept by Postgres from the row itself, so an import that changes a title changes
-- the card in the same statement.
-- depends: 0003_suggestions_without_movie_fk

-- IMMUTABLE is true of this function (to_json of text depends on no setting), and a
-- generated column requires it.
CREATE FUNCTION movie_card(id integer, title text, overview text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN '{"id":' || id || ',"title":' || to_json(title) || ',"overview":' || to_json(overview);

ALTER TABLE movies ADD COLUMN card text NOT NULL
    GENERATED ALWAYS AS (movie_card(id, title, overview)) STORED;
