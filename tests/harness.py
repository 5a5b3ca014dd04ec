"""Harness for tests that run real `streamrec worker` processes against the real broker
and Postgres: worker subprocesses, publishing raw messages, waiting on Postgres."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from infra.repositories import movies as movies_repo
from infra.settings import Settings
from ml.synthetic import SyntheticData, generate
from schemas.events import DeadLetter, RatingEvent
from schemas.ratings import encode_rating
from streams import topic_admin
from streams.publisher import EventPublisher

STREAMREC = str(Path(sys.executable).with_name("streamrec"))


@dataclass
class Worker:
    """One `streamrec worker` subprocess, its output in a log file."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([STREAMREC, "worker"], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Pipeline:
    settings: Settings
    env: dict[str, str]
    pool: asyncpg.Pool
    data: SyntheticData
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def worker(self, **overrides: str) -> Worker:
        worker = Worker({**self.env, **overrides}, self.tmp / f"worker-{len(self.workers)}.log")
        worker.start()
        self.workers.append(worker)
        return worker

    async def publish(self, messages: list[tuple[bytes | None, bytes]], topic: str = "ratings") -> None:
        """Raw messages on ``topic`` (a name without the prefix), acknowledged."""
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all",
                                    linger_ms=5, max_request_size=4_000_000)
        await producer.start()
        try:
            pending = [await producer.send(self.settings.topic(topic), value, key=key)
                       for key, value in messages]
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    async def request_retrain(self) -> None:
        """Ask the workers' trainer for a model, as `streamrec models train` does."""
        publisher = EventPublisher(self.settings)
        await publisher.start()
        try:
            await publisher.request_retrain("manual")
        finally:
            await publisher.stop()

    async def stored_and_trained(self, ratings: int) -> None:
        """Wait for the first ``ratings`` published ratings to be stored by a running worker,
        ask for a model and wait for everyone's batch list."""
        await self.wait_for(f"{ratings} ratings",
                            lambda: self._at_least("SELECT count(*) FROM ratings", ratings))
        await self.request_retrain()
        users = await self.scalar("SELECT count(DISTINCT user_id) FROM ratings")
        await self.wait_for("everyone's batch list", lambda: self._at_least(
            "SELECT count(*) FROM user_lists WHERE made_by = 'batch'", users), timeout_s=120)

    async def _at_least(self, query: str, expected: int) -> bool:
        return await self.scalar(query) >= expected

    async def wait_for(self, what: str, check: Callable[[], Awaitable[bool]],
                       timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await check():
                return
            for worker in self.workers:
                assert worker.proc is None or worker.proc.poll() is None or worker.proc.returncode in (
                    0, -signal.SIGTERM, -signal.SIGKILL), f"worker died:\n{worker.output()[-3000:]}"
            await asyncio.sleep(0.25)
        logs = "\n".join(w.output()[-2000:] for w in self.workers)
        pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{logs}")

    async def scalar(self, query: str, *args: object) -> int:
        value = await self.pool.fetchval(query, *args)
        return int(value or 0)

    async def dead_letters(self, count: int, timeout_s: float = 60.0) -> list[DeadLetter]:
        consumer = AIOKafkaConsumer(
            self.settings.topic("ratings-dlq"), bootstrap_servers=self.settings.kafka_bootstrap,
            auto_offset_reset="earliest", enable_auto_commit=False,
        )
        await consumer.start()
        letters: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(letters) < count and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    letters += [DeadLetter.loads(record.value) for record in records]
        finally:
            await consumer.stop()
        return letters


def rating_messages(
    data: SyntheticData, start: int = 0, stop: int | None = None
) -> list[tuple[bytes, bytes]]:
    """The demo data's ratings as producers publish them, with stable event ids."""
    frame = data.ratings.iloc[start:stop]
    return [
        encode_rating(RatingEvent(
            event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"rating-{row.Index}")),
            user_id=int(row.user_id), movie_id=int(row.movie_id), rating=float(row.rating),
            rated_at=row.rated_at.to_pydatetime(),
        ))
        for row in frame.itertuples()
    ]


async def open_pipeline(
    settings: Settings, database_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> Pipeline:
    """Demo movies in the database, topics of this run's own, and the environment of
    its workers (small models, so training takes well under a second)."""
    data = generate(200, 120, 4000, seed=7)
    async with pool.acquire() as conn:
        await movies_repo.upsert(conn, data.movies[["id", "title", "overview", "popularity"]]
                                 .itertuples(index=False, name=None))
    app_id = f"streamrec-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "STREAMREC_DATABASE_URL": database_url,
        "STREAMREC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "STREAMREC_TOPIC_PREFIX": settings.topic_prefix,
        "STREAMREC_APP_ID": app_id,
        "STREAMREC_MODEL_DIR": str(tmp_path / "models"),
        "STREAMREC_HOME": str(tmp_path / "home"),
        "STREAMREC_RATINGS_PARTITIONS": "4",
        "STREAMREC_PREDICTION_JOBS_PARTITIONS": "4",
        "STREAMREC_RETRAIN_EVERY_N_RATINGS": "1000000",
        "STREAMREC_SVD_FACTORS": "10",
        "STREAMREC_SVD_EPOCHS": "10",
        "STREAMREC_PREDICTION_BATCH_SIZE": "50",
        "STREAMREC_TOP_K": "10",
    }
    run_settings = settings.model_copy(update={"app_id": app_id, "ratings_partitions": 4,
                                               "prediction_jobs_partitions": 4})
    await topic_admin.ensure_topics(run_settings)
    return Pipeline(run_settings, env, pool, data, tmp_path)
