DROP VIEW suggestions;
CREATE TABLE suggestions (
    user_id           integer NOT NULL,
    movie_id          integer NOT NULL,
    value             double precision NOT NULL,
    model_version     text NOT NULL,
    did_rate          boolean NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    predicted_rating  real,
    made_by           text NOT NULL DEFAULT 'batch' CHECK (made_by IN ('batch', 'realtime')),
    PRIMARY KEY (user_id, movie_id)
);
CREATE INDEX suggestions_user_rank_idx ON suggestions (user_id, did_rate, value DESC);
INSERT INTO suggestions (user_id, movie_id, value, model_version, updated_at, predicted_rating, made_by)
SELECT l.user_id, u.movie_id, u.value, l.model_version, l.updated_at, u.predicted, l.made_by
FROM user_lists l CROSS JOIN LATERAL unnest(l.movie_ids, l.rank_values, l.predicted) AS u (movie_id, value, predicted);
DROP TRIGGER movies_card_changed ON movies;
DROP TRIGGER movies_deleted ON movies;
DROP FUNCTION movies_changed();
DROP FUNCTION rerender_lists(integer[]);
DROP TABLE user_lists;
DROP FUNCTION list_item(text, double precision);
DROP INDEX ratings_user_xid_idx;
ALTER TABLE ratings DROP COLUMN ingest_xid;
