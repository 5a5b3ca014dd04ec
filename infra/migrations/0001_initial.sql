-- streamrec's tables.  Applied by `streamrec db migrate`.
-- depends:

CREATE TABLE movies (
    id          integer PRIMARY KEY CHECK (id > 0),
    title       text NOT NULL,
    overview    text NOT NULL DEFAULT '',
    popularity  double precision NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Cold-start fallback reads the most popular movies first.
CREATE INDEX movies_popularity_idx ON movies (popularity DESC, id);

CREATE TABLE users (
    id          integer PRIMARY KEY CHECK (id > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ratings (
    user_id      integer NOT NULL REFERENCES users (id),
    movie_id     integer NOT NULL REFERENCES movies (id),
    -- 0.5 .. 5.0 in steps of 0.5, enforced here as well as in the agent.
    rating       real NOT NULL
                 CHECK (rating BETWEEN 0.5 AND 5.0 AND rating * 2 = trunc(rating * 2)),
    rated_at     timestamptz NOT NULL,
    event_id     uuid NOT NULL UNIQUE,
    -- When streamrec stored the row: the scheduled retrain skips if nothing is newer
    -- than the active model's export.
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    -- One rating per (user, movie); the latest rated_at wins.
    PRIMARY KEY (user_id, movie_id)
);
CREATE INDEX ratings_movie_idx ON ratings (movie_id);
CREATE INDEX ratings_ingested_at_idx ON ratings (ingested_at);

-- The materialized table the API reads; the predictor agents replace a user's rows.
CREATE TABLE suggestions (
    user_id        integer NOT NULL,
    movie_id       integer NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    value          double precision NOT NULL,
    model_version  text NOT NULL,
    did_rate       boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- (user_id, movie_id): the seed's first index, and one suggestion per pair.
    PRIMARY KEY (user_id, movie_id)
);
-- The seed's (user, did_rate) index, extended with the ranking the API serves.
CREATE INDEX suggestions_user_rank_idx ON suggestions (user_id, did_rate, value DESC);

CREATE TABLE model_versions (
    version_name     text PRIMARY KEY,
    rmse             double precision NOT NULL CHECK (rmse >= 0),
    mae              double precision NOT NULL CHECK (mae >= 0),
    n_ratings        integer NOT NULL CHECK (n_ratings >= 0),
    params           jsonb NOT NULL DEFAULT '{}'::jsonb,
    sha256           char(64) NOT NULL,
    path             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Newest ratings.ingested_at included in the training export.
    ratings_through  timestamptz,
    is_active        boolean NOT NULL DEFAULT false,
    activated_at     timestamptz,
    -- Why the trainer did or did not activate it (e.g. "rmse 0.95 > active 0.90 + 0.01").
    decision         text NOT NULL DEFAULT ''
);
-- At most one active model, enforced by the database.
CREATE UNIQUE INDEX model_versions_one_active ON model_versions (is_active) WHERE is_active;
