"""Threshold retrains, gated activation, fan-out and predictions, by real workers."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.events import ModelPublished, RetrainRequest
from streams.publisher import EventPublisher
from tests.harness import Pipeline, rating_messages


async def _active_version(pipeline: Pipeline) -> str | None:
    value = await pipeline.pool.fetchval("SELECT version_name FROM model_versions WHERE is_active")
    return str(value) if value else None


async def test_threshold_retrain_activates_and_every_user_gets_unrated_top_k(
    pipeline: Pipeline,
) -> None:
    # Popularity must come from the streamed ratings, not from what was loaded before.
    await pipeline.pool.execute("UPDATE movies SET popularity = 0")
    pipeline.worker(STREAMREC_RETRAIN_EVERY_N_RATINGS="1000")
    # Chunks below the threshold, each consumed before the next: one request per crossing.
    for start in range(0, 2500, 500):
        await pipeline.publish(rating_messages(pipeline.data, start, start + 500))
        await pipeline.wait_for(f"{start + 500} ratings",
                                lambda n=start + 500: _has(pipeline, "SELECT count(*) FROM ratings", n))
    outbox = await pipeline.pool.fetch("SELECT new_ratings FROM retrain_outbox ORDER BY created_at")
    assert [row["new_ratings"] for row in outbox] == [1000, 1000]
    assert await pipeline.scalar("SELECT pending FROM retrain_counter") == 500

    await pipeline.wait_for("an active model", lambda: _has(
        pipeline, "SELECT count(*) FROM model_versions WHERE is_active", 1))
    users = await pipeline.scalar("SELECT count(DISTINCT user_id) FROM ratings")
    # The second crossing's model may replace the first meanwhile: wait on whichever is
    # active (a job for a model no longer active is dropped, by design).
    await pipeline.wait_for("suggestions for every user from the active model", lambda: _has(
        pipeline, "SELECT count(DISTINCT user_id) FROM suggestions "
        "WHERE model_version = (SELECT version_name FROM model_versions WHERE is_active)", users))

    assert await pipeline.scalar(
        "SELECT count(*) FROM suggestions s JOIN ratings r USING (user_id, movie_id)") == 0, \
        "a rated movie is never suggested"
    assert await pipeline.scalar(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM suggestions GROUP BY user_id) c") == 10
    row = await pipeline.pool.fetchrow(
        "SELECT rmse, mae, n_ratings, sha256 FROM model_versions ORDER BY created_at LIMIT 1")
    assert 0 < row["mae"] <= row["rmse"] < 1.5
    assert row["n_ratings"] >= 1000 and len(row["sha256"]) == 64
    # Whichever version is active beat popularity on its held-out split (on 1,000 ratings
    # the first one may not, and then the second crossing's is the one activated).
    active = await pipeline.pool.fetchrow(
        "SELECT ndcg_at_10, baseline_ndcg_at_10, decision FROM model_versions WHERE is_active")
    assert active["ndcg_at_10"] > active["baseline_ndcg_at_10"] > 0, active["decision"]

    # Each list is in the ranking model's order; the score shown is SVD's predicted rating.
    scores = await pipeline.pool.fetch(
        "SELECT value, predicted_rating FROM suggestions WHERE user_id = "
        "(SELECT min(user_id) FROM suggestions) ORDER BY value DESC")
    assert all(0.5 <= r["predicted_rating"] <= 5.0 for r in scores)
    assert [r["value"] for r in scores] == sorted((r["value"] for r in scores), reverse=True)
    # Popularity follows the stream (refreshed at each retrain from the ratings exported):
    # no movie counts more ratings than it has, and nearly all rated movies count some.
    assert await pipeline.scalar(
        "SELECT count(*) FROM movies m JOIN (SELECT movie_id, count(*) AS n FROM ratings "
        "GROUP BY movie_id) c ON c.movie_id = m.id WHERE floor(m.popularity) > c.n") == 0
    rated = await pipeline.scalar("SELECT count(DISTINCT movie_id) FROM ratings")
    assert await pipeline.scalar("SELECT count(*) FROM movies WHERE popularity > 0") >= 0.9 * rated


async def test_a_worse_model_is_recorded_but_not_activated(pipeline: Pipeline) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    first = pipeline.worker()
    await pipeline.wait_for("3000 ratings", lambda: _has(pipeline, "SELECT count(*) FROM ratings", 3000))
    publisher = EventPublisher(pipeline.settings)
    await publisher.start()
    try:
        await publisher.request_retrain("manual")
        await pipeline.wait_for("the first model", lambda: _has(
            pipeline, "SELECT count(*) FROM model_versions WHERE is_active", 1))
        good = await _active_version(pipeline)
        await pipeline.wait_for("its suggestions", lambda: _has(
            pipeline, "SELECT count(*) > 0 FROM suggestions WHERE model_version = $1", 1, good))

        # A worker whose training barely moves from the initial factors: a worse model.
        first.stop()
        pipeline.worker(STREAMREC_SVD_EPOCHS="1", STREAMREC_SVD_LR="0.00001")
        await publisher.request_retrain("manual")
        await pipeline.wait_for("the second model", lambda: _has(
            pipeline, "SELECT count(*) FROM model_versions", 2))
    finally:
        await publisher.stop()

    rows = await pipeline.pool.fetch(
        "SELECT version_name, rmse, is_active, decision FROM model_versions ORDER BY created_at")
    assert rows[0]["is_active"] and not rows[1]["is_active"]
    assert rows[1]["rmse"] > rows[0]["rmse"]
    assert rows[1]["decision"].startswith("not activated")
    assert await _active_version(pipeline) == good
    assert await pipeline.scalar(
        "SELECT count(*) FROM suggestions WHERE model_version <> $1", good) == 0


async def test_two_workers_share_the_partitions_and_lose_nothing(pipeline: Pipeline) -> None:
    pipeline.worker()
    pipeline.worker()

    async def two_members() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.settings.kafka_bootstrap)
        await admin.start()
        try:
            groups = await admin.describe_consumer_groups([pipeline.settings.app_id])
            members = groups[0].groups[0][5] if groups and groups[0].groups else []
            return len(members) == 2 and groups[0].groups[0][2] == "Stable"
        finally:
            await admin.close()

    await pipeline.wait_for("both workers in the group", two_members)
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    await pipeline.wait_for("3000 ratings", lambda: _has(pipeline, "SELECT count(*) FROM ratings", 3000))
    assert await pipeline.scalar("SELECT count(DISTINCT event_id) FROM ratings") == 3000
    assert all(w.proc is not None and w.proc.poll() is None for w in pipeline.workers)


async def _has(pipeline: Pipeline, query: str, expected: int, *args: object) -> bool:
    return await pipeline.scalar(query, *args) == expected


async def test_a_request_the_newest_model_covers_is_answered_without_training(
    pipeline: Pipeline,
) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 1000))
    pipeline.worker()
    await pipeline.wait_for("1000 ratings", lambda: _has(pipeline, "SELECT count(*) FROM ratings", 1000))
    publisher = EventPublisher(pipeline.settings)
    await publisher.start()
    consumer = AIOKafkaConsumer(pipeline.settings.topic("model-events"),
                                bootstrap_servers=pipeline.settings.kafka_bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        first = await publisher.request_retrain("manual")
        await pipeline.wait_for("the model", lambda: _has(pipeline, "SELECT count(*) FROM model_versions", 1))
        late = RetrainRequest(reason="manual", new_ratings=0, request_id=str(uuid.uuid4()),
                              requested_at=first.requested_at - timedelta(seconds=1))
        await publisher.send(pipeline.settings.topic("retrain-requests"), late.dumps())
        answers: dict[str, ModelPublished] = {}
        deadline = time.monotonic() + 60
        while late.request_id not in answers and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    published = ModelPublished.loads(record.value)
                    answers.update({request_id: published for request_id in published.request_ids})
    finally:
        await consumer.stop()
        await publisher.stop()
    assert answers[first.request_id].covered is False
    assert answers[late.request_id].covered is True
    assert answers[late.request_id].version == answers[first.request_id].version
    assert await pipeline.scalar("SELECT count(*) FROM model_versions") == 1, "no second training"
