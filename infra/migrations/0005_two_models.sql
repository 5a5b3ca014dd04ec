-- A version is two models: a ranking model orders each list, SVD predicts the rating
-- shown. suggestions.value stays the order key (now the ranking model's score, so the
-- index serving the API is unchanged); predicted_rating is the SVD's estimate, shown
-- as the suggestion's score (rows written before it fall back to value).
-- model_versions records the list's quality on the held-out split beside RMSE/MAE.
-- depends: 0004_movie_cards

ALTER TABLE suggestions ADD COLUMN predicted_rating real;
ALTER TABLE model_versions
    ADD COLUMN ndcg_at_10 double precision,
    ADD COLUMN precision_at_10 double precision,
    ADD COLUMN baseline_ndcg_at_10 double precision;
