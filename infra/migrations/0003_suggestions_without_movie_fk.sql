-- The predictors rewrite ~300k suggestion rows per model at MovieLens-1M scale; a
-- foreign-key check per copied row was the largest part of that write. Suggestions
-- only ever name movies of the catalogue, and the API joins movies when it serves
-- them, so a deleted movie is never shown; its rows go with the user's next job.
-- depends: 0002_retrain_outbox

ALTER TABLE suggestions DROP CONSTRAINT suggestions_movie_id_fkey;
