-- No online evaluation: impressions and their attributions are dropped.
DROP TABLE attributions;
DROP TABLE impressions;
