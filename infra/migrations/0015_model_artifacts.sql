-- A version's artifact in Postgres, so every host of a deployment can load it: the
-- trainer writes the bytes in the transaction that records the version, in parts
-- (one bytea value stays far below Postgres's 1 GB limit and asyncpg's buffers).
-- The bytes are random-looking floats: EXTERNAL storage skips TOAST's compression
-- attempt and keeps them out of line.
CREATE TABLE model_artifacts (
    version_name text NOT NULL REFERENCES model_versions (version_name) ON DELETE CASCADE,
    part         integer NOT NULL CHECK (part >= 0),
    data         bytea NOT NULL,
    PRIMARY KEY (version_name, part)
);
ALTER TABLE model_artifacts ALTER COLUMN data SET STORAGE EXTERNAL;
