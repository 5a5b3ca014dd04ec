-- "Not interested": a user's hidden movies, never suggested to them again, like a rated one.
-- One row per (user, movie), the latest event by `hidden_at` (then event id) wins; an
-- unhide is a tombstone (`hidden` false), not a delete, so a hide older than the unhide
-- that arrives after it (a redelivery, a replay, another partition order) still loses.
-- A replayed event equals the stored row's time and id, so it changes nothing.
--
-- Exactness, as for ratings (migration 0008): the list writers read the hidden movies in
-- the same snapshot as the ratings and leave them out; a hide stored by a transaction at
-- or after the list's `rated_from` is left out at serve time through the partial index
-- below (only hides are in it), a range that is almost always empty.
-- depends: 0010_latest

CREATE TABLE hidden_items (
    user_id     integer NOT NULL,
    movie_id    integer NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    hidden      boolean NOT NULL,
    hidden_at   timestamptz NOT NULL,  -- the `at` of the latest hide or unhide
    event_id    uuid NOT NULL,
    ingest_xid  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (user_id, movie_id)
);
CREATE INDEX hidden_items_user_xid_idx ON hidden_items (user_id, ingest_xid) INCLUDE (movie_id)
    WHERE hidden;
CREATE INDEX hidden_items_movie_idx ON hidden_items (movie_id);
