-- One row per user: the list the API serves, best first, as arrays. The API reads one
-- primary key (and an index range that is almost always empty) instead of 50 rows,
-- and a re-rank rewrites one row instead of deleting and inserting 50.
--
-- Exactness without did_rate: each list records `rated_from`, the oldest transaction
-- its writer might not have seen when it read the user's ratings (its snapshot's xmin).
-- Every rating stored by an older transaction was visible and is excluded from the
-- list already; a rating stored at or after it is found at serve time through
-- ratings (user_id, ingest_xid). So a movie is never served after its rating is
-- stored, whatever order the writers and the ingest commit in.
-- `suggestions` stays, as a view with the seed's columns (did_rate computed exactly).
-- depends: 0007_similar_movies

ALTER TABLE ratings ADD COLUMN ingest_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX ratings_user_xid_idx ON ratings (user_id, ingest_xid) INCLUDE (movie_id);

CREATE TABLE user_lists (
    user_id        integer PRIMARY KEY,
    movie_ids      integer[] NOT NULL,
    rank_values    double precision[] NOT NULL,  -- the ranking model's scores: the order
    predicted      double precision[] NOT NULL,  -- the SVD's predicted ratings: the scores
    items          text[] NOT NULL,  -- each item's JSON as served (see rerender_lists)
    model_version  text NOT NULL,
    made_by        text NOT NULL CHECK (made_by IN ('batch', 'realtime')),
    rated_from     xid8 NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(movie_ids) = cardinality(rank_values)
           AND cardinality(movie_ids) = cardinality(predicted)
           AND cardinality(movie_ids) = cardinality(items))
);

-- An item as served: the movie's card (migration 0004) and its score. float8 text is
-- the shortest exact form; whole numbers get ".0" so typed JSON clients see a float.
-- The items (~8 KB a list) are TOASTed; lz4 compresses and decompresses them at a
-- fraction of the default pglz's CPU, on every re-rank and every request.
ALTER TABLE user_lists ALTER COLUMN items SET COMPRESSION lz4;

CREATE FUNCTION list_item(card text, score double precision) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN card || ',"score":' || score
           || CASE WHEN score = trunc(score) AND abs(score) < 1e15 THEN '.0' ELSE '' END || '}';

INSERT INTO user_lists (user_id, movie_ids, rank_values, predicted, items, model_version,
                        made_by, rated_from, updated_at)
SELECT s.user_id,
       array_agg(s.movie_id ORDER BY s.value DESC, s.movie_id),
       array_agg(s.value ORDER BY s.value DESC, s.movie_id),
       array_agg(coalesce(s.predicted_rating, s.value) ORDER BY s.value DESC, s.movie_id),
       array_agg(list_item(m.card, coalesce(s.predicted_rating, s.value))
                 ORDER BY s.value DESC, s.movie_id),
       min(s.model_version), min(s.made_by), pg_snapshot_xmin(pg_current_snapshot()), max(s.updated_at)
FROM suggestions s JOIN movies m ON m.id = s.movie_id
WHERE NOT s.did_rate
  AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = s.user_id AND r.movie_id = s.movie_id)
GROUP BY s.user_id;

DROP TABLE suggestions;

-- Items are rendered when a list is written, so a movie's changed card (an import
-- renaming it) or its deletion reaches the lists that hold it in the same statement.
CREATE FUNCTION rerender_lists(changed integer[]) RETURNS void LANGUAGE sql AS $$
    UPDATE user_lists l
    SET movie_ids = r.movie_ids, rank_values = r.rank_values, predicted = r.predicted, items = r.items
    FROM (
        SELECT x.user_id,
               coalesce(array_agg(u.movie_id ORDER BY u.position) FILTER (WHERE m.id IS NOT NULL), '{}') AS movie_ids,
               coalesce(array_agg(u.value ORDER BY u.position) FILTER (WHERE m.id IS NOT NULL), '{}') AS rank_values,
               coalesce(array_agg(u.predicted ORDER BY u.position) FILTER (WHERE m.id IS NOT NULL), '{}') AS predicted,
               coalesce(array_agg(list_item(m.card, u.predicted) ORDER BY u.position)
                        FILTER (WHERE m.id IS NOT NULL), '{}') AS items
        FROM user_lists x
        CROSS JOIN LATERAL unnest(x.movie_ids, x.rank_values, x.predicted)
            WITH ORDINALITY AS u (movie_id, value, predicted, position)
        LEFT JOIN movies m ON m.id = u.movie_id
        WHERE x.movie_ids && changed
        GROUP BY x.user_id
    ) r
    WHERE l.user_id = r.user_id
$$;

CREATE FUNCTION movies_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM rerender_lists(ARRAY(SELECT id FROM gone));
    ELSE
        PERFORM rerender_lists(ARRAY(SELECT n.id FROM fresh n JOIN gone o USING (id)
                                     WHERE n.card IS DISTINCT FROM o.card));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER movies_card_changed AFTER UPDATE ON movies
    REFERENCING OLD TABLE AS gone NEW TABLE AS fresh
    FOR EACH STATEMENT EXECUTE FUNCTION movies_changed();
CREATE TRIGGER movies_deleted AFTER DELETE ON movies
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION movies_changed();

CREATE VIEW suggestions AS
SELECT l.user_id, u.movie_id, u.value::double precision AS value, u.predicted_rating,
       l.model_version,
       EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = l.user_id AND r.movie_id = u.movie_id)
           AS did_rate,
       l.made_by, l.updated_at, u.position::integer AS position
FROM user_lists l
CROSS JOIN LATERAL unnest(l.movie_ids, l.rank_values, l.predicted)
    WITH ORDINALITY AS u (movie_id, value, predicted_rating, position);
