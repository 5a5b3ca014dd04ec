ALTER TABLE model_versions DROP COLUMN IF EXISTS exported_at;
DROP TABLE IF EXISTS retrain_outbox;
DROP TABLE IF EXISTS retrain_counter;
