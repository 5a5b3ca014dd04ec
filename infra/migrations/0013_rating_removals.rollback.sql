-- The removed ratings stay removed; only their tombstones go.
DROP TABLE rating_removals;
