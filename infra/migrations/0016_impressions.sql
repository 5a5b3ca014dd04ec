-- What users were shown and what they did next: online evaluation from the stream.
-- `impressions`: a list as served (the API logs each one on the `impressions` topic), one
-- row per event id, so a redelivered impression changes nothing.
-- `attributions`: a rating or hide of a movie that an impression of the same user showed
-- shortly before (STREAMREC_ATTRIBUTION_WINDOW), credited to that impression's version,
-- position and made_by; one row per rating or hide event, so a redelivery or a restart
-- attributes nothing twice. The latest impression showing the movie before the action wins.
CREATE TABLE impressions (
    event_id      uuid PRIMARY KEY,
    user_id       integer NOT NULL,
    movie_ids     integer[] NOT NULL CHECK (cardinality(movie_ids) > 0),
    model_version text,
    made_by       text,
    source        text NOT NULL,
    served_at     timestamptz NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX impressions_user_served_idx ON impressions (user_id, served_at);
CREATE INDEX impressions_version_served_idx ON impressions (model_version, served_at);

CREATE TABLE attributions (
    event_id      uuid PRIMARY KEY,  -- the rating's or the hide's
    action        text NOT NULL CHECK (action IN ('rating', 'hide')),
    impression_id uuid NOT NULL REFERENCES impressions (event_id) ON DELETE CASCADE,
    user_id       integer NOT NULL,
    movie_id      integer NOT NULL,
    model_version text,
    made_by       text,
    position      integer NOT NULL CHECK (position >= 1),
    rating        real,  -- the rating given; null for a hide
    acted_at      timestamptz NOT NULL
);
CREATE INDEX attributions_impression_idx ON attributions (impression_id);
