"""`streamrec models train --wait | list | activate | rollback` against a real worker."""

from __future__ import annotations

import json
import subprocess

from tests.harness import STREAMREC, Pipeline, rating_messages


def _cli(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**pipeline.env, "STREAMREC_APP_ID": pipeline.settings.app_id}
    return subprocess.run([STREAMREC, *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


async def test_train_wait_list_rollback_and_activate(pipeline: Pipeline) -> None:
    pipeline.worker(STREAMREC_ACTIVATION_TOLERANCE="10")  # every new model activates
    await pipeline.publish(rating_messages(pipeline.data, 0, 2000))
    await pipeline.wait_for("2000 ratings",
                            lambda: _equals(pipeline, "SELECT count(*) FROM ratings", 2000))

    first = _cli(pipeline, "models", "train", "--wait", "--timeout", "120")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "suggestions written for" in first.stdout
    second = _cli(pipeline, "models", "train", "--wait", "--timeout", "120")
    assert second.returncode == 0, second.stdout + second.stderr

    listed = json.loads(_cli(pipeline, "models", "list", "--json").stdout)
    assert len(listed) == 2
    newest, oldest = listed[0]["version"], listed[1]["version"]
    assert [m["is_active"] for m in listed] == [True, False]

    rolled = _cli(pipeline, "models", "rollback")
    assert rolled.returncode == 0 and oldest in rolled.stdout
    assert await pipeline.pool.fetchval("SELECT version_name FROM model_versions WHERE is_active") == oldest
    users = await pipeline.scalar("SELECT count(DISTINCT user_id) FROM ratings")
    await pipeline.wait_for("suggestions recomputed with the rolled-back model", lambda: _equals(
        pipeline, "SELECT count(DISTINCT user_id) FROM suggestions WHERE model_version = $1",
        users, oldest))

    again = _cli(pipeline, "models", "activate", newest)
    assert again.returncode == 0
    assert await pipeline.pool.fetchval("SELECT version_name FROM model_versions WHERE is_active") == newest

    unknown = _cli(pipeline, "models", "activate", "no-such-version")
    assert unknown.returncode == 1
    assert "no model version 'no-such-version'" in unknown.stderr and newest in unknown.stderr
    assert "Traceback" not in unknown.stderr


async def _equals(pipeline: Pipeline, query: str, expected: int, *args: object) -> bool:
    return await pipeline.scalar(query, *args) == expected


async def test_lag_shows_the_workers_groups_and_reaches_zero(pipeline: Pipeline) -> None:
    pipeline.worker()
    await pipeline.publish(rating_messages(pipeline.data, 0, 500))
    await pipeline.wait_for("500 ratings",
                            lambda: _equals(pipeline, "SELECT count(*) FROM ratings", 500))

    async def ratings_group_caught_up() -> bool:
        shown = _cli(pipeline, "topics", "lag", "--json")
        groups = {g["group"]: g for g in json.loads(shown.stdout)} if shown.returncode == 0 else {}
        ratings = groups.get(f"{pipeline.settings.app_id}-ratings")
        return (pipeline.settings.app_id in groups and ratings is not None
                and ratings["total_lag"] == 0
                and {p["topic"] for p in ratings["partitions"]} == {pipeline.settings.topic("ratings")})

    await pipeline.wait_for("the ratings group's lag at 0", ratings_group_caught_up)
