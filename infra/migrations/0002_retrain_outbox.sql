-- The retrain trigger's state lives in Postgres, in the same transaction as the
-- ratings it counts: a crash can neither lose nor double-count a threshold crossing.
-- depends: 0001_initial

CREATE TABLE retrain_counter (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),  -- exactly one row
    pending     integer NOT NULL DEFAULT 0 CHECK (pending >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO retrain_counter DEFAULT VALUES;

-- Retrain requests decided in a ratings transaction, published to Kafka after commit.
CREATE TABLE retrain_outbox (
    request_id   uuid PRIMARY KEY,
    reason       text NOT NULL,
    new_ratings  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX retrain_outbox_unsent_idx ON retrain_outbox (created_at) WHERE sent_at IS NULL;

-- When the trainer started exporting: a request made before it is already covered.
ALTER TABLE model_versions ADD COLUMN exported_at timestamptz;
