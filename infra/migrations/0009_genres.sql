-- Each movie's genres (MovieLens names), for GET /api/genres and the genre= filter of
-- the suggestions, popular and latest lists.
--
-- An array on the movie row rather than a movie_genres table: every filter checks a
-- movie the query already reads (a list's movies by primary key, the popular chart in
-- index order), so the genres come with the row and `genres @> ARRAY[$genre]` needs no
-- join; an import writes them in the same COPY and upsert as the titles. The GIN index
-- answers "is this a known genre" and the counts of selective genres without a scan.
-- depends: 0008_user_lists

ALTER TABLE movies ADD COLUMN genres text[] NOT NULL DEFAULT '{}';
CREATE INDEX movies_genres_idx ON movies USING gin (genres);
