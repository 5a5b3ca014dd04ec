ALTER TABLE suggestions DROP COLUMN made_by;
