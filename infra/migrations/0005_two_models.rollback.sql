ALTER TABLE model_versions DROP COLUMN ndcg_at_10, DROP COLUMN precision_at_10,
    DROP COLUMN baseline_ndcg_at_10;
ALTER TABLE suggestions DROP COLUMN predicted_rating;
