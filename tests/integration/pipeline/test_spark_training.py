"""A retrain on the Spark engine against a real standalone cluster (its executors in
JVMs of their own), by a real worker: the version activates, records its engine, and
every user's list is written. Needs pyspark and Java: without them it fails."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from infra.settings import Settings
from infra.stack import spark
from tests.harness import STREAMREC, Pipeline, rating_messages


@pytest.fixture(scope="session")
def spark_cluster(stack: Settings) -> Iterator[Settings]:
    """The local Spark cluster (``stack up --spark``'s), started for this session when
    it is not up and stopped again if it was started here."""
    started_here = not spark.is_ready(stack)
    if started_here:
        spark.start(stack)
    yield stack
    if started_here:
        spark.stop(stack)


async def _count(pipeline: Pipeline, query: str, expected: int) -> bool:
    return await pipeline.scalar(query) >= expected


async def test_a_spark_retrain_activates_records_its_engine_and_writes_every_list(
    pipeline: Pipeline, spark_cluster: Settings
) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    pipeline.worker(
        STREAMREC_TRAIN_ENGINE="spark", STREAMREC_SPARK_MASTER=spark_cluster.spark_cluster_url,
        STREAMREC_RANKING_MODEL="ials",  # the ranking model fitted on Spark too
        STREAMREC_SPARK_PARTITIONS="2", STREAMREC_SPARK_DRIVER_MEMORY="1g",
        STREAMREC_SPARK_EXECUTOR_MEMORY="1g",
    )
    await pipeline.wait_for("3000 ratings", lambda: _count(pipeline, "SELECT count(*) FROM ratings", 3000))
    await pipeline.request_retrain()
    # The first retrain starts the driver's JVM and the cluster's executor for it.
    await pipeline.wait_for("an active model", lambda: _count(
        pipeline, "SELECT count(*) FROM model_versions WHERE is_active", 1), timeout_s=300)
    row = await pipeline.pool.fetchrow(
        "SELECT version_name, params, rmse, ndcg_at_10, baseline_ndcg_at_10, decision "
        "FROM model_versions WHERE is_active")
    assert row is not None
    params = json.loads(row["params"]) if isinstance(row["params"], str) else row["params"]
    assert params["engine"] == "spark"
    assert params["ranking"]["kind"] == "ials"
    assert 0 < row["rmse"] < 1.5
    assert row["ndcg_at_10"] > row["baseline_ndcg_at_10"], row["decision"]

    # The fit ran on the cluster: the trainer's application holds it while the worker lives.
    state = spark.master_state(spark_cluster)
    assert state is not None
    apps = [app["name"] for app in state.get("activeapps", []) + state.get("completedapps", [])]
    assert "streamrec-trainer" in apps

    users = await pipeline.scalar("SELECT count(DISTINCT user_id) FROM ratings")
    await pipeline.wait_for("every user's list from the Spark version",
                            lambda: _lists_of(pipeline, row["version_name"], users), timeout_s=120)
    assert await pipeline.scalar(
        "SELECT count(*) FROM suggestions s JOIN ratings r USING (user_id, movie_id)") == 0
    assert _engines_listed(pipeline)[row["version_name"]] == "spark"


def _engines_listed(pipeline: Pipeline) -> dict[str, str]:
    """`streamrec models list --json`'s engine per version."""
    listed = subprocess.run([STREAMREC, "models", "list", "--json"], env=pipeline.env,
                            capture_output=True, text=True, timeout=60, check=True)
    return {v["version"]: v["engine"] for v in json.loads(listed.stdout)}


async def _lists_of(pipeline: Pipeline, version: str, users: int) -> bool:
    return await pipeline.scalar(
        "SELECT count(DISTINCT user_id) FROM suggestions WHERE model_version = $1", version) >= users
