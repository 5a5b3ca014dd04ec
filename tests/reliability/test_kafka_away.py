"""Kafka away: the API answers 503 within its publish timeout (even with a producer that
was connected), ``/readyz`` within its check timeout, and a worker started meanwhile
waits, logging each attempt, then works once the broker is back."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

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


REFUSED = 40  # ratings answered 503 in each case (and a removal and a hide)
SKIPPED = re.compile(r"(\d+) event\(s\) appended after their publish deadline skipped")


async def test_an_event_answered_503_is_not_stored_and_its_retry_stores_once(
        fault_pipeline: Pipeline) -> None:
    """Kafka away, then Kafka frozen (SIGSTOP: it takes the records but appends them
    only when it resumes, past their deadline): every write answered 503 stays unstored,
    and retrying each with its Idempotency-Key, twice, stores each once."""
    pipeline = fault_pipeline
    settings = api_settings(pipeline).model_copy(update={"api_publish_timeout_s": PUBLISH_TIMEOUT_S})
    movies = [int(m) for m in pipeline.data.movies["id"]]
    worker = pipeline.worker()
    async with serve(settings) as api:
        await _write_and_see_stored(pipeline, api, marker_user=8000, movie=movies[1])  # to remove

        away = await _refused_writes(api, first_user=10_000, movies=movies, stop=(
            lambda: asyncio.to_thread(kafka.stop, pipeline.settings),
            lambda: asyncio.to_thread(kafka.start, pipeline.settings)))
        record = kafka.running(pipeline.settings)
        assert record is not None
        skipped_before = _skipped(worker.output())
        frozen = await _refused_writes(api, first_user=20_000, movies=movies, stop=(
            lambda: _signal(record.pid, signal.SIGSTOP), lambda: _signal(record.pid, signal.SIGCONT)))

        await _write_and_see_stored(pipeline, api, marker_user=9002, movie=movies[0])
        await pipeline.wait_for("the frozen broker's late records to be skipped",
                                lambda: _true(_skipped(worker.output()) > skipped_before), timeout_s=60)
        for first_user in (10_000, 20_000):
            assert await _count(pipeline, "ratings", first_user) == 0
            assert await _count(pipeline, "hidden_items", first_user) == 0
        assert await pipeline.scalar("SELECT count(*) FROM ratings WHERE user_id = 8000") == 1

        for retry in (away, frozen):
            first = await asyncio.gather(*(api.request(**request) for request in retry))
            again = await asyncio.gather(*(api.request(**request) for request in retry))
            assert [r.status_code for r in first + again] == [202] * (2 * len(retry))
            assert [r.json()["event_id"] for r in first] == [r.json()["event_id"] for r in again]
        await _write_and_see_stored(pipeline, api, marker_user=9003, movie=movies[0])
        for first_user in (10_000, 20_000):
            assert await _count(pipeline, "ratings", first_user) == REFUSED
            assert await _count(pipeline, "hidden_items", first_user) == 1
        assert await pipeline.scalar("SELECT count(*) FROM ratings WHERE user_id = 8000") == 0
        assert await pipeline.scalar("SELECT count(*) FROM rating_removals WHERE user_id = 8000") == 1


async def _refused_writes(api: httpx.AsyncClient, *, first_user: int, movies: list[int],
                          stop: tuple[Callable[[], Awaitable[object]], Callable[[], Awaitable[object]]],
                          ) -> list[dict[str, Any]]:
    """With Kafka stopped by ``stop[0]``: REFUSED ratings, a removal (of user 8000's
    rating) and a hide, each with an Idempotency-Key, all answered 503; Kafka is back
    after ``stop[1]``. Returns the requests, to be retried."""
    requests: list[dict[str, Any]] = [
        {"method": "POST", "url": "/api/ratings",
         "json": {"user_id": first_user + i, "movie_id": movies[i % len(movies)], "rating": 4},
         "headers": {"Idempotency-Key": f"r-{first_user}-{i}"}}
        for i in range(REFUSED)]
    requests += [
        {"method": "DELETE", "url": "/api/ratings", "json": {"user_id": 8000, "movie_id": movies[1]},
         "headers": {"Idempotency-Key": f"d-{first_user}"}},
        {"method": "POST", "url": "/api/hidden", "json": {"user_id": first_user, "movie_id": movies[2]},
         "headers": {"Idempotency-Key": f"h-{first_user}"}}]
    await stop[0]()
    try:
        answers = await asyncio.gather(*(api.request(**request) for request in requests))
    finally:
        await stop[1]()
    assert [a.status_code for a in answers] == [503] * len(requests)
    assert all(a.json()["error"] for a in answers)
    return requests


async def _write_and_see_stored(pipeline: Pipeline, api: httpx.AsyncClient, *, marker_user: int,
                                movie: int) -> None:
    """A rating accepted (retried while the producer reconnects) and stored: whatever was
    published before it on its partition has been read."""
    async def accepted() -> bool:
        answer = await api.post("/api/ratings", json={"user_id": marker_user, "movie_id": movie,
                                                       "rating": 5})
        return answer.status_code == 202

    await pipeline.wait_for("a rating to be accepted", accepted, timeout_s=60)
    await pipeline.wait_for("the rating to be stored", lambda: _true_async(pipeline.scalar(
        "SELECT count(*) FROM ratings WHERE user_id = $1", marker_user)), timeout_s=60)


async def _count(pipeline: Pipeline, table: str, first_user: int) -> int:
    return await pipeline.scalar(f"SELECT count(*) FROM {table} WHERE user_id BETWEEN $1 AND $2",
                                 first_user, first_user + REFUSED)


def _skipped(output: str) -> int:
    return sum(int(n) for n in SKIPPED.findall(output))


async def _signal(pid: int, sig: int) -> None:
    os.kill(pid, sig)
    if sig == signal.SIGSTOP:
        await asyncio.sleep(0.2)


async def _true(value: bool) -> bool:
    return value


async def _true_async(count: Awaitable[int]) -> bool:
    return bool(await count)
