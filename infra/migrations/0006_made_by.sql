-- How each list was made: "batch" by a prediction job after a retrain, "realtime" by
-- the speed layer right after the user's ratings were stored (both from the active
-- version). The API and the page say which.
-- depends: 0005_two_models

ALTER TABLE suggestions ADD COLUMN made_by text NOT NULL DEFAULT 'batch'
    CHECK (made_by IN ('batch', 'realtime'));
