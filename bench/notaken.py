"""``python -m bench notaken``: what the API's answers mean when Kafka is away or frozen.

Ratings are posted (each with an ``Idempotency-Key``) while the run's own Kafka is
stopped, then while it is frozen (SIGSTOP: it takes the records and appends them when
it resumes, past their deadline). Every write answered 503 must stay unstored after
Kafka is back; retrying each with its key, twice, must store each exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from api.app import create_app
from bench.common import BenchRun, Scale, at_least, at_most, bench_run
from infra import db
from infra.kafka import quiet_kafka_logs
from infra.repositories import movies as movies_repo
from infra.settings import Settings
from infra.stack import control, kafka
from ml.synthetic import generate

STREAMREC = str(Path(sys.executable).with_name("streamrec"))
SKIPPED = re.compile(r"(\d+) event\(s\) appended after their publish deadline skipped")
PHASE_USERS = {"away": 100_000, "frozen": 200_000}  # each phase's writes are by users from here

METHOD = (
    "A Kafka and a Postgres of the run's own (own ports and home, started and stopped by the "
    "stack's code), a real `streamrec worker`, and the API in-process (its lifespan, the default "
    "3 s publish timeout), talked to over ASGI. Phase *away*: Kafka stopped, the ratings posted "
    "evenly over the phase, one at a time, each by its own user with its own Idempotency-Key, "
    "then Kafka started. Phase *frozen*: the broker SIGSTOPped the same way, then SIGCONTed. "
    "Then a marker rating is posted and stored, the worker gets 10 s more, and the rows of the "
    "phases' users are counted; then every write is retried twice with its key and the rows "
    "counted again once a second marker is stored."
)
LIMITS = (
    "One broker and the API on the same host: the API's clock sets each deadline and the "
    "broker's judges it, so clock skew between hosts would move the margin (1 s). The "
    "remaining case (an append within the deadline whose acknowledgement is later than the "
    "margin) is not provoked here; it is answered 503 and stored, and a retry with its key "
    "stores it once."
)


@contextlib.asynccontextmanager
async def own_stack(base: Settings) -> AsyncIterator[Settings]:
    """A Kafka and Postgres of this run's own, so stopping them disturbs nothing else.
    (The stack's code checks readiness with asyncio.run: it runs off this loop.)"""
    home = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="streamrec-bench-stack-"))
    settings = await asyncio.to_thread(control.private_settings, base, home)
    try:
        await asyncio.to_thread(control.up, settings, lambda service, outcome: None)
        await asyncio.to_thread(db.migrate, settings.database_url)
        yield settings
    finally:
        await asyncio.to_thread(control.down, settings, lambda service, outcome: None)
        await asyncio.to_thread(shutil.rmtree, settings.home, True)


@contextlib.asynccontextmanager
async def _api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.bench") as client:
            yield client


def _rating(phase: str, i: int, movie: int) -> dict[str, Any]:
    return {"url": "/api/ratings", "json": {"user_id": PHASE_USERS[phase] + i, "movie_id": movie,
                                            "rating": 4}, "headers": {"Idempotency-Key": f"{phase}-{i}"}}


async def _stored(bench_settings: Settings, phase: str, writes: int) -> int:
    conn = await asyncpg.connect(bench_settings.database_url)
    try:
        first = PHASE_USERS[phase]
        return int(await conn.fetchval("SELECT count(*) FROM ratings WHERE user_id BETWEEN $1 AND $2",
                                       first, first + writes - 1))
    finally:
        await conn.close()


async def _marker(api: httpx.AsyncClient, settings: Settings, user: int, movie: int) -> None:
    """A rating accepted (retried while the producer reconnects) and then stored."""
    deadline = time.monotonic() + 120
    while (await api.post("/api/ratings", json={"user_id": user, "movie_id": movie, "rating": 5})
           ).status_code != 202:
        if time.monotonic() > deadline:
            raise TimeoutError("no rating was accepted within 120 s of Kafka's return")
        await asyncio.sleep(0.5)
    conn = await asyncpg.connect(settings.database_url)
    try:
        while not await conn.fetchval("SELECT count(*) FROM ratings WHERE user_id = $1", user):
            if time.monotonic() > deadline:
                raise TimeoutError("the marker rating was not stored within 120 s")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def _phase(api: httpx.AsyncClient, requests: list[dict[str, Any]], seconds: float) -> list[int]:
    """The requests, evenly over ``seconds``, one at a time; their statuses."""
    statuses = []
    started = time.monotonic()
    for n, request in enumerate(requests):
        await asyncio.sleep(max(0.0, started + n * seconds / len(requests) - time.monotonic()))
        statuses.append((await api.post(**request)).status_code)
    return statuses


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([STREAMREC, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _measure(bench: BenchRun, stack: Settings, writes: int, away_s: float,
                   frozen_s: float, settle_s: float) -> dict[str, Any]:
    settings = bench.settings
    data = generate(200, 120, 1000, seed=7)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await movies_repo.upsert(conn, data.movies[["id", "title", "overview", "popularity"]]
                                 .itertuples(index=False, name=None))
    finally:
        await conn.close()
    movie = int(data.movies["id"].iloc[0])
    log = bench.tmp / "worker.log"
    worker = _start_worker(bench.worker_env(), log)
    try:
        async with _api(settings) as api:
            await _marker(api, settings, 9001, movie)
            requests = {phase: [_rating(phase, i, movie) for i in range(writes)] for phase in PHASE_USERS}
            await asyncio.to_thread(kafka.stop, stack)
            try:
                away = await _phase(api, requests["away"], away_s)
            finally:
                await asyncio.to_thread(kafka.start, stack)
            record = kafka.running(stack)
            assert record is not None, "Kafka did not come back"
            os.kill(record.pid, signal.SIGSTOP)
            try:
                frozen = await _phase(api, requests["frozen"], frozen_s)
            finally:
                os.kill(record.pid, signal.SIGCONT)
            await _marker(api, settings, 9002, movie)
            await asyncio.sleep(settle_s)  # time for any late record to be read
            stored_503 = {phase: await _stored(settings, phase, writes) for phase in PHASE_USERS}
            retry_statuses = []
            for _ in range(2):
                for phase in PHASE_USERS:
                    retry_statuses += [(await api.post(**r)).status_code for r in requests[phase]]
            await _marker(api, settings, 9003, movie)
            stored_retried = {phase: await _stored(settings, phase, writes) for phase in PHASE_USERS}
    finally:
        _stop(worker)
    skipped = sum(int(n) for n in SKIPPED.findall(log.read_text(errors="replace")))
    return {"away": away, "frozen": frozen, "stored_503": stored_503, "retry_statuses": retry_statuses,
            "stored_retried": stored_retried, "skipped": skipped}


async def run(base: Settings, scale: Scale) -> dict[str, Any]:
    smoke = scale.name == "smoke"
    writes, away_s, frozen_s, settle_s = (10, 3.0, 3.0, 3.0) if smoke else (100, 60.0, 15.0, 10.0)
    # aiokafka logs each refused send while Kafka is away: the run reports them itself.
    with quiet_kafka_logs():
        async with own_stack(base) as stack, bench_run(stack, "notaken", topics=True) as bench:
            measured = await _measure(bench, stack, writes, away_s, frozen_s, settle_s)
    away, frozen = measured["away"], measured["frozen"]
    stored_503, stored_retried = measured["stored_503"], measured["stored_retried"]
    retry_statuses, skipped = measured["retry_statuses"], measured["skipped"]
    answered_503 = {"away": away.count(503), "frozen": frozen.count(503)}
    print(f"notaken: {writes} ratings per phase; answered 503: {answered_503}; stored after Kafka "
          f"returned: {stored_503}; late records the worker skipped: {skipped}; after two retries "
          f"of each with its key: {stored_retried} stored, retries answered "
          f"{dict((s, retry_statuses.count(s)) for s in sorted(set(retry_statuses)))}")
    targets = [
        at_most(f"ratings stored of {answered_503['away']} answered 503 with Kafka away {away_s:g} s",
                stored_503["away"], 0, "rows"),
        at_most(f"ratings stored of {answered_503['frozen']} answered 503 with Kafka frozen {frozen_s:g} s",
                stored_503["frozen"], 0, "rows"),
        at_least("rows stored per write after two retries with its key (exactly 1)",
                 min(stored_retried.values()) / writes if max(stored_retried.values()) == writes else 0.0,
                 1.0, "x"),
    ]
    return {
        "method": METHOD, "limits": LIMITS, "writes_per_phase": writes, "away_s": away_s,
        "frozen_s": frozen_s, "answered_503": answered_503, "answered": {"away": away, "frozen": frozen},
        "stored_after_503": stored_503, "late_records_skipped": skipped,
        "stored_after_retries": stored_retried, "retry_statuses": retry_statuses,
        "targets": [t.as_dict() for t in targets],
    }
