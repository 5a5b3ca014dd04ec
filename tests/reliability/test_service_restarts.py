"""Kafka and Postgres restarts mid-stream: agents recover by themselves, nothing is lost,
and no good event is dead-lettered."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.settings import Settings
from infra.stack import kafka, postgres
from tests.harness import Pipeline, rating_messages
from tests.integration.api.support import serve


async def _stored(pipeline: Pipeline) -> int:
    # A fresh connection each time: the pool's may be dead while Postgres restarts.
    try:
        return await pipeline.scalar("SELECT count(*) FROM ratings")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):  # restarting
        return -1


async def _dead_letter_count(pipeline: Pipeline) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
    await consumer.start()
    try:
        partition = TopicPartition(pipeline.settings.topic("ratings-dlq"), 0)
        return int((await consumer.end_offsets([partition]))[partition])
    finally:
        await consumer.stop()


async def test_broker_restart_mid_stream(fault_pipeline: Pipeline) -> None:
    pipeline = fault_pipeline
    messages = rating_messages(pipeline.data, 0, 4000)
    pipeline.worker()
    await pipeline.publish(messages[:2000])
    await pipeline.wait_for("the first half", lambda: _at_least(pipeline, 2000))

    # A long-lived producer keeps its unsent events across the outage and retries them.
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.settings.kafka_bootstrap, acks="all",
                                request_timeout_ms=120_000, retry_backoff_ms=500)
    await producer.start()
    topic = pipeline.settings.topic("ratings")
    try:
        key, value = messages[2000]
        await producer.send_and_wait(topic, value, key=key)  # a producer that was in use
        assert await asyncio.to_thread(kafka.stop, pipeline.settings) == "stopped"
        async with serve(api_settings(pipeline)) as api:
            down = await api.get("/readyz")
            assert down.status_code == 503 and down.json()["checks"] == {"postgres": "up",
                                                                         "kafka": "down"}
            assert (await api.get("/api/suggestions/", params={"user_id": 1})).status_code == 200
            rating = await api.post("/api/ratings", json={"user_id": 1, "movie_id": 1, "rating": 4})
            assert rating.status_code == 503 and "error" in rating.json()

        async def send_rest() -> None:
            await asyncio.gather(*[await producer.send(topic, value, key=key)
                                   for key, value in messages[2001:]])

        sending = asyncio.create_task(send_rest())
        await asyncio.sleep(3)
        restarted = time.monotonic()
        assert await asyncio.to_thread(kafka.start, pipeline.settings) == "started"
        await asyncio.wait_for(sending, 120)
    finally:
        await producer.stop()
    await pipeline.wait_for("every rating after the restart", lambda: _at_least(pipeline, 4000),
                            timeout_s=180)
    recovery = time.monotonic() - restarted
    assert await pipeline.scalar("SELECT count(*) FROM ratings") == 4000
    assert await pipeline.scalar("SELECT count(DISTINCT event_id) FROM ratings") == 4000
    async with serve(api_settings(pipeline)) as api:
        assert (await api.get("/readyz")).status_code == 200
    assert await _dead_letter_count(pipeline) == 0
    assert all(w.proc is not None and w.proc.poll() is None for w in pipeline.workers)
    print(f"broker restart: all 4000 ratings stored {recovery:.1f} s after the broker came back")


async def test_postgres_restart_mid_stream(fault_pipeline: Pipeline) -> None:
    pipeline = fault_pipeline
    pipeline.worker()
    await pipeline.publish(rating_messages(pipeline.data, 0, 1000))
    await pipeline.wait_for("the first batch", lambda: _at_least(pipeline, 1000))

    await pipeline.pool.expire_connections()
    async with serve(api_settings(pipeline)) as api:
        assert (await api.get("/readyz")).status_code == 200
        assert await asyncio.to_thread(postgres.stop, pipeline.settings) == "stopped"
        await pipeline.publish(rating_messages(pipeline.data, 1000, 4000))  # consumed while down
        down = await api.get("/readyz")
        assert down.status_code == 503 and down.json()["checks"]["postgres"] == "down"
        served = await api.get("/api/suggestions/", params={"user_id": 1})
        assert served.status_code == 503 and "error" in served.json(), "503, not 500"
        await asyncio.sleep(2)
        restarted = time.monotonic()
        assert await asyncio.to_thread(postgres.start, pipeline.settings) == "started"
        await pipeline.wait_for("the API to answer again", lambda: _answers(api))
    await pipeline.wait_for("every rating after the restart", lambda: _at_least(pipeline, 4000),
                            timeout_s=180)
    recovery = time.monotonic() - restarted
    assert await pipeline.scalar("SELECT count(*) FROM ratings") == 4000
    assert await _dead_letter_count(pipeline) == 0, "no good event is dead-lettered"
    assert all(w.proc is not None and w.proc.poll() is None for w in pipeline.workers)
    print(f"postgres restart: all 4000 ratings stored {recovery:.1f} s after Postgres came back")


def api_settings(pipeline: Pipeline) -> Settings:
    return pipeline.settings.model_copy(update={"database_url": pipeline.env["STREAMREC_DATABASE_URL"]})


async def _answers(api: httpx.AsyncClient) -> bool:
    return (await api.get("/api/suggestions/", params={"user_id": 1})).status_code == 200


async def _at_least(pipeline: Pipeline, count: int) -> bool:
    return await _stored(pipeline) >= count
