-- A user taking back a rating ("op": "remove" on the ratings topic). The rating's row is
-- deleted, so everything that reads `ratings` (the training export, popularity, the
-- speed layer's and predictor's histories, did_rate, "Your ratings", serve-time
-- exclusion) sees the removal without a filter of its own; a removed movie may simply
-- be suggested again.
--
-- The removal stays as a tombstone here, one row per (user, movie): the latest removal
-- by `removed_at` (then event id). A rating applies only when it is later than the
-- tombstone, so a redelivered or replayed rating older than the removal (whose event id
-- left `ratings` with its row) cannot bring the rating back, while a later rating does.
-- A tie goes to the removal. `ingested_at` lets the scheduled retrain see that the data
-- changed although no rating row is newer.
-- depends: 0012_movie_search

CREATE TABLE rating_removals (
    user_id      integer NOT NULL,
    movie_id     integer NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    removed_at   timestamptz NOT NULL,  -- the removal's `rated_at`
    event_id     uuid NOT NULL UNIQUE,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, movie_id)
);
CREATE INDEX rating_removals_ingested_at_idx ON rating_removals (ingested_at);
