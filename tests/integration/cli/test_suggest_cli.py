"""`streamrec suggest USER_ID`: what the API would answer, as a table or its JSON."""

from __future__ import annotations

import psycopg

from tests.integration.cli.conftest import Cli


def _seed(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO movies (id, title, popularity) VALUES "
                     "(1, 'Alpha', 1), (2, 'Beta', 9), (3, 'Gamma', 5), (4, 'Delta', 7)")
        conn.execute("INSERT INTO model_versions (version_name, rmse, mae, n_ratings, sha256, path, "
                     "is_active) VALUES ('v1', 0.9, 0.7, 10, repeat('a', 64), '/m', true)")
        conn.execute("INSERT INTO user_lists (user_id, movie_ids, rank_values, predicted, items, "
                     "model_version, made_by, rated_from) "
                     "SELECT 5, '{1,3,4}', '{4.9,4.1,3.0}', '{4.9,4.1,3.0}', "
                     "array_agg(list_item(card, score) ORDER BY score DESC), 'v1', 'batch', "
                     "pg_snapshot_xmin(pg_current_snapshot()) "
                     "FROM movies JOIN (VALUES (1, 4.9), (3, 4.1), (4, 3.0)) s (id, score) USING (id)")
        conn.execute("INSERT INTO users (id) VALUES (5)")
        conn.execute("INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) "
                     "VALUES (5, 3, 4.0, now(), gen_random_uuid())")


def test_suggest_matches_the_api_contract(cli: Cli, database_url: str) -> None:
    _seed(database_url)
    served = cli.json("suggest", "5", "--limit", "5")
    assert served["source"] == "model" and served["model_version"] == "v1"
    assert [s["id"] for s in served["suggestions"]] == [1, 4], "best first, the rated movie left out"

    cold = cli.json("suggest", "77", "--limit", "2")
    assert cold["source"] == "popular"
    assert [s["id"] for s in cold["suggestions"]] == [2, 4]

    table = cli.run("suggest", "5").stdout
    assert "Alpha" in table and "Gamma" not in table

    bad = cli.subprocess("suggest", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
