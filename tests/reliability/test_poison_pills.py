"""Single messages that used to stop the pipeline: each costs one bounded letter (or a
logged skip on an internal topic) and the good events behind it on the same partition
flow on, the worker never restarting."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import Counter

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.events import ModelPublished, PredictionJob
from schemas.internal import parse_internal
from streams.deadletter import KEPT_VALUE_BYTES, PREFIX_BYTES
from tests.harness import Pipeline, rating_messages

Message = tuple[bytes | None, bytes]


def _rating(**fields: object) -> bytes:
    return json.dumps({"user_id": 1, "movie_id": 1, "rating": 4, **fields}).encode()


POISON: list[tuple[bytes, str]] = [
    (b'{"user_id": 1, "movie_id": 1, "rating": 4, "pad": "' + b"x" * 900_000 + b'"}', "oversized"),
    (b"[" * 5000, "too_deep"),
    (b'{"a":' * 1500, "too_deep"),
    (_rating(rated_at="0001-01-01T00:00:00+01:00"), "invalid_rated_at"),
    (_rating(rated_at="9999-12-31T23:30:00-01:00"), "invalid_rated_at"),
    (_rating(rated_at="9999-12-31T23:59:59Z"), "invalid_rated_at"),
    (b'{"user_id": 1, "movie_id": 1, "rating": 1' + b"0" * 400 + b"}", "number_too_large"),
    (b'{"user_id": 1, "movie_id": 1, "rating": ' + b"9" * 400 + b"}", "number_too_large"),
]


async def test_each_poison_pill_costs_one_letter_and_the_partition_goes_on(pipeline: Pipeline) -> None:
    good = [message for message in rating_messages(pipeline.data, 0, 2000) if message[0] == b"1"]
    good += [(b"1", _rating(movie_id=int(movie), event_id=f"00000000-0000-4000-8000-{i:012d}",
                            rated_at="2001-01-01T00:00:00Z"))
             for i, movie in enumerate(pipeline.data.movies["id"][:len(POISON)])]
    assert len(good) > len(POISON)
    # Every pill is followed by good events of the same key, so of the same partition.
    messages: list[Message] = []
    share = len(good) // len(POISON)
    for i, (value, _) in enumerate(POISON):
        messages.append((b"1", value))
        messages += good[i * share:(i + 1) * share]
    messages += good[len(POISON) * share:]
    worker = pipeline.worker()
    await pipeline.publish(messages)

    expected = len({json.loads(value)["movie_id"] for _, value in good})  # one row per movie
    await pipeline.wait_for("every good rating of the partition",
                            lambda: _stored_for_user_1(pipeline, expected))
    letters = await pipeline.dead_letters(len(POISON))
    assert Counter(letter.reason for letter in letters) == Counter(reason for _, reason in POISON)
    oversized = next(letter for letter in letters if letter.reason == "oversized")
    assert oversized.truncated and oversized.value_size == len(POISON[0][0])
    assert oversized.value_sha256 == hashlib.sha256(POISON[0][0]).hexdigest()
    assert base64.b64decode(oversized.value_b64) == POISON[0][0][:PREFIX_BYTES]
    assert all(len(base64.b64decode(letter.value_b64)) <= KEPT_VALUE_BYTES for letter in letters)
    assert worker.proc is not None and worker.proc.poll() is None, "the worker never restarted"
    assert "Traceback" not in worker.output()


async def test_garbage_on_internal_topics_is_skipped_and_the_trainer_goes_on(pipeline: Pipeline) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    worker = pipeline.worker()
    await pipeline.wait_for("3000 ratings", lambda: _count(pipeline, "SELECT count(*) FROM ratings", 3000))
    settings = pipeline.settings
    fake = ModelPublished(version="20200101T000000.000000Z-abcdef", rmse=0.1, mae=0.1, n_ratings=1,
                          activated=True)
    raw = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await raw.start()
    try:
        for topic in ("retrain-requests", "model-events", "prediction-jobs"):
            for value in (b"not json", b"[" * 5000, b'{"activated": "yes"}'):
                await raw.send_and_wait(settings.topic(topic), value)
        # An announcement of a version that does not exist must fan out nothing.
        await raw.send_and_wait(settings.topic("model-events"), fake.dumps())
    finally:
        await raw.stop()

    await pipeline.request_retrain()
    await pipeline.wait_for("a model trained after the garbage", lambda: _count(
        pipeline, "SELECT count(*) FROM model_versions WHERE is_active", 1), timeout_s=120)
    active = await pipeline.pool.fetchval("SELECT version_name FROM model_versions WHERE is_active")
    users = await pipeline.scalar("SELECT count(DISTINCT user_id) FROM ratings")
    await pipeline.wait_for("everyone's suggestions", lambda: _count(
        pipeline, "SELECT count(DISTINCT user_id) FROM suggestions", users))
    jobs = await _prediction_jobs(pipeline)
    assert jobs and {job.model_version for job in jobs} == {active}, "no job for the unknown version"
    output = worker.output()
    assert output.count("skipped an unreadable message") >= 9
    assert "announced as activated, but the active model is" in output
    assert worker.proc is not None and worker.proc.poll() is None


async def _prediction_jobs(pipeline: Pipeline) -> list[PredictionJob]:
    topic = pipeline.settings.topic("prediction-jobs")
    consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.settings.kafka_bootstrap,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(pipeline.settings.prediction_jobs_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        jobs: list[PredictionJob] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(position >= end[tp] for position, tp in zip(positions, tps, strict=True)):
                break
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    parsed = parse_internal(PredictionJob, record.value)
                    if isinstance(parsed, PredictionJob):
                        jobs.append(parsed)
        return jobs
    finally:
        await consumer.stop()


async def _stored_for_user_1(pipeline: Pipeline, expected: int) -> bool:
    return await pipeline.scalar("SELECT count(*) FROM ratings WHERE user_id = 1") >= expected


async def _count(pipeline: Pipeline, query: str, expected: int) -> bool:
    return await pipeline.scalar(query) >= expected
