-- Versions go back to living only in the trainer's model directory.
DROP TABLE model_artifacts;
