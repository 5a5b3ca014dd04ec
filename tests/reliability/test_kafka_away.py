"""Kafka away: the API answers 503 within its publish timeout (even with a producer that
was connected), ``/readyz`` within its check timeout, and a worker started meanwhile
waits, logging each attempt, then works once the broker is back."""

from __future__ import annotations

import asyncio
import time

from infra.stack import kafka
from tests.harness import Pipeline, rating_messages
from tests.integration.api.support import serve
from tests.reliability.test_service_restarts import api_settings

PUBLISH_TIMEOUT_S = 2.0


async def test_api_answers_503_in_time_and_a_worker_waits_for_kafka(fault_pipeline: Pipeline) -> None:
    pipeline = fault_pipeline
    settings = api_settings(pipeline).model_copy(update={"api_publish_timeout_s": PUBLISH_TIMEOUT_S})
    try:
        async with serve(settings) as api:
            accepted = await api.post("/api/ratings", json={"user_id": 1, "movie_id": 1, "rating": 4})
            assert accepted.status_code == 202  # the producer is connected
            assert await asyncio.to_thread(kafka.stop, pipeline.settings) == "stopped"

            started = time.monotonic()
            refused = await api.post("/api/ratings", json={"user_id": 1, "movie_id": 2, "rating": 4})
            took = time.monotonic() - started
            assert refused.status_code == 503 and "error" in refused.json()
            assert took < PUBLISH_TIMEOUT_S + 2, f"POST took {took:.1f} s with Kafka away"

            started = time.monotonic()
            ready = await api.get("/readyz")
            took = time.monotonic() - started
            assert ready.status_code == 503 and ready.json()["checks"]["kafka"] == "down"
            assert took < 4, f"/readyz took {took:.1f} s"

        worker = pipeline.worker()
        await pipeline.wait_for("the worker to log a second attempt",
                                lambda: _logged(worker.output(), "waiting for services (attempt 2"))
        assert worker.proc is not None and worker.proc.poll() is None, "it waits, it does not exit"
    finally:
        assert await asyncio.to_thread(kafka.start, pipeline.settings) == "started"
    await pipeline.publish(rating_messages(pipeline.data, 0, 500))
    await pipeline.wait_for("ratings stored by the worker that waited",
                            lambda: _stored(pipeline, 500), timeout_s=120)
    assert "attempts; starting" in worker.output()


async def _logged(output: str, text: str) -> bool:
    return text in output


async def _stored(pipeline: Pipeline, count: int) -> bool:
    return await pipeline.scalar("SELECT count(*) FROM ratings") >= count
