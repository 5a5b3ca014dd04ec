"""ingest: ratings through Kafka → ratings agent → Postgres, by a real `streamrec worker`.

Two phases on one worker, on a throw-away database and topics of the run's own:

1. throughput: N ratings are published first (pre-encoded, batched producer), then the
   worker starts and drains the backlog; the rate is from the first to the last row
   visible in Postgres (polled through ``retrain_counter.pending``, which the ingest
   transaction bumps with every stored rating, every 20 ms);
2. latency: ratings at a fixed rate for a bounded time, each for a (user, movie) with
   a suggestions row inserted beforehand; the latency of one is from just before its
   ``send()`` to the first poll (every 10 ms) that sees its suggestion with ``did_rate``.

The worker's memory is sampled throughout (see ``bench.worker``).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np
import pandas as pd
from aiokafka import AIOKafkaProducer

from bench.common import BenchRun, Scale, at_least, at_most, bench_run, stopwatch
from bench.dataload import load_movies
from bench.paced import PacedRun, publish_paced
from bench.profiling import SpyRecorder
from bench.worker import WorkerProcess, worker_session
from infra import db
from infra.repositories import ratings as ratings_repo
from infra.repositories import retrain as retrain_repo
from infra.repositories import suggestions as suggestions_repo
from infra.settings import Settings
from ml.synthetic import SyntheticData, generate
from schemas.events import RatingEvent
from schemas.ratings import encode_rating

GiB = 1024**3
POLL_THROUGHPUT_S = 0.02
POLL_LATENCY_S = 0.01

_SEEN = (
    "SELECT s.user_id, s.movie_id FROM suggestions s "
    "JOIN unnest($1::int[], $2::int[]) AS p(u, m) ON s.user_id = p.u AND s.movie_id = p.m "
    "WHERE s.did_rate"
)

METHOD = (
    "A throw-away database with the synthetic movies, topics of the run's own (ratings: the "
    "settings' partitions), one `streamrec worker` subprocess with the retrain threshold and "
    "schedule out of reach. Throughput: N distinct ratings (random order) are published first "
    "with a batched aiokafka producer (acks=all), then the worker starts and drains the "
    "backlog; events/s = ratings stored after the first poll that saw any / seconds from "
    "that poll to the one that saw all N (polling `retrain_counter.pending`, bumped by the "
    "ingest transaction, every 20 ms). Latency: ratings at a fixed rate (ticks of 10 ms) for "
    "a bounded time, each on a (user, movie) in the user's list written beforehand; "
    "latency = time from just before `send()` (producer as the API's: acks=all, idempotent, "
    "linger 5 ms) to the first 10 ms poll that sees did_rate on it in the `suggestions` view (so it includes "
    "up to ~10 ms of polling resolution). Memory: the worker's process tree read from /proc "
    "every 100 ms; the peak is the sum of each process's VmHWM."
)

LIMITS = (
    "The worker's one Python event loop. The ratings are read by an aiokafka consumer in the "
    "worker (`streams.batch_consumer`) that hands everything fetched so far, up to 2,000 events, "
    "to the agent as one batch, which is validated and stored with one COPY and one upsert; "
    "Faust's one-event-at-a-time stream, which this replaced for the ratings topic, cost more "
    "Python per event than the rest of the ingest together. What remains per event is "
    "streamrec's validation (`parse_rating`: JSON decoding, deriving the event id with uuid5 "
    "when a producer leaves it out, building the `RatingEvent` record), the named tuples of each "
    "message and aiokafka's record objects (see the profile); Postgres is mostly idle. More "
    "throughput needs more worker processes (the ratings topic has 8 partitions; two cores "
    "here). Latency at 1,000 events/s: a fetch returns what has arrived, waiting at most 20 ms "
    "for more (`BATCH_WITHIN_S`), so an event waits for at most one fetch and one ingest "
    "transaction; the p99 includes up to 10 ms of polling resolution."
)


def encode_ratings(frame: pd.DataFrame, rated_at: datetime | None = None) -> list[tuple[bytes, bytes]]:
    ids = np.random.default_rng().integers(0, 2**63, (len(frame), 2)).tolist()
    out = []
    for (a, b), user, movie, rating, at in zip(
        ids, frame["user_id"].tolist(), frame["movie_id"].tolist(), frame["rating"].tolist(),
        frame["rated_at"].tolist(), strict=True,
    ):
        event = RatingEvent(event_id=f"{a:016x}{b:016x}", user_id=user, movie_id=movie,
                            rating=rating, rated_at=rated_at or at.to_pydatetime())
        out.append(encode_rating(event))
    return out


async def publish_backlog(settings: Settings, messages: list[tuple[bytes, bytes]],
                          topic_name: str = "ratings") -> float:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                linger_ms=20, max_batch_size=1 << 20, max_request_size=8 << 20)
    await producer.start()
    topic = settings.topic(topic_name)
    try:
        started = time.perf_counter()
        for start in range(0, len(messages), 20_000):
            pending = [await producer.send(topic, value, key=key)
                       for key, value in messages[start : start + 20_000]]
            await asyncio.gather(*pending)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def drain_backlog(pool: asyncpg.Pool, worker: WorkerProcess, n: int, spy_path: Any,
                 timeout_s: float, *, already: int = 0) -> dict[str, Any]:
    """Poll the ratings counter until ``n`` more than ``already`` are stored; the rate is
    from the first poll that saw any of them to the last."""
    progress: list[list[float]] = []
    first: tuple[float, int] | None = None
    spy: SpyRecorder | None = None
    deadline = time.monotonic() + timeout_s
    stored = 0
    while stored < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{stored:,} of {n:,} ratings stored after {timeout_s:.0f} s")
        worker.check_alive()
        async with pool.acquire() as conn:
            stored = await retrain_repo.pending_count(conn) - already
        now = time.perf_counter()
        if stored and first is None:
            first = (now, stored)
            if spy_path is not None:
                spy = SpyRecorder(worker.pid, spy_path)
        if not progress or progress[-1][1] != stored:
            progress.append([round(now - worker.started_at, 3), stored])
        if stored < n:
            await asyncio.sleep(POLL_THROUGHPUT_S)
    last = time.perf_counter()
    assert first is not None
    profile = spy.stop("the worker while it drains the backlog") if spy else None
    rate = (n - first[1]) / max(last - first[0], 1e-9)
    step = max(1, len(progress) // 300)
    return {
        "events_per_s": rate,
        "first_row_after_worker_start_s": first[0] - worker.started_at,
        "drain_s": last - first[0],
        "progress": progress[::step] + ([progress[-1]] if progress[-1] not in progress[::step] else []),
        "profile": profile,
    }


async def _latency(settings: Settings, pool: asyncpg.Pool, worker: WorkerProcess,
                   pairs: list[tuple[int, int]], messages: list[tuple[bytes, bytes]],
                   rate: int) -> dict[str, Any]:
    async def did_rate_set(waiting: list[int], run: PacedRun) -> list[int]:
        rows = await pool.fetch(_SEEN, [pairs[i][0] for i in waiting], [pairs[i][1] for i in waiting])
        marked = {(row[0], row[1]) for row in rows}
        return [i for i in waiting if pairs[i] in marked]

    run = await publish_paced(settings, worker, messages, rate, did_rate_set, POLL_LATENCY_S)
    first_send = min(run.sent_perf, default=0.0)
    over_time = sorted([round(run.sent_perf[i] - first_send, 3), round((seen - run.sent_perf[i]) * 1000, 1)]
                       for i, seen in run.seen.items())
    return {**run.summary(rate), "latency_over_time": over_time[:: max(1, len(over_time) // 1500)]}


async def run(base: Settings, scale: Scale, *, events: int | None = None,
              spy: bool = False) -> dict[str, Any]:
    n = events or scale.ingest_events
    n_latency = int(scale.latency_rate * scale.latency_seconds)
    data = generate(scale.n_users, scale.n_movies, n + n_latency, seed=1)
    order = np.random.default_rng(1).permutation(len(data.ratings))
    backlog = data.ratings.iloc[order[:n]]
    live = data.ratings.iloc[order[n:]]
    with stopwatch() as t_encode:
        backlog_messages = encode_ratings(backlog)
        live_messages = encode_ratings(live, rated_at=datetime.now(UTC))
    print(f"ingest: {n:,} + {n_latency:,} ratings encoded in {t_encode[0]:.1f} s")
    async with bench_run(base, "ingest", topics=True) as bench:
        result = await _measure(bench, data, backlog_messages, live, live_messages, scale, spy)
    n_targets = [
        at_least("ingest throughput (backlog drain)", result["events_per_s"], 10_000, "events/s"),
        at_most(f"p99 publish → did_rate visible at {scale.latency_rate:,}/s",
                result["latency_ms"]["p99"], 200, "ms"),
        at_most("worker peak memory (ingest)", result["worker_peak_rss_bytes"] / GiB, 1.0, "GiB"),
    ]
    return {"method": METHOD, "limits": LIMITS, "events": n, **result,
            "targets": [t.as_dict() for t in n_targets]}


async def _measure(bench: BenchRun, data: SyntheticData, backlog: list[tuple[bytes, bytes]],
                   live: pd.DataFrame, live_messages: list[tuple[bytes, bytes]], scale: Scale,
                   spy: bool) -> dict[str, Any]:
    settings = bench.settings
    pool = await db.create_pool(settings)
    worker = WorkerProcess(bench.worker_env(), bench.tmp / "worker.log")
    pairs = list(zip(live["user_id"].tolist(), live["movie_id"].tolist(), strict=True))
    async with worker_session(worker, pool):
        async with pool.acquire() as conn:
            await load_movies(conn, data)
            await suggestions_repo.replace_for_users(
                conn, sorted({u for u, _ in pairs}), sorted((u, m, 3.0) for u, m in pairs), "bench-v0",
                rated_from=(await ratings_repo.rated_pairs(conn, [])).rated_from)
        publish_s = await publish_backlog(settings, backlog)
        print(f"ingest: {len(backlog):,} ratings published in {publish_s:.1f} s "
              f"({len(backlog) / publish_s:,.0f}/s); starting the worker")
        worker.start()
        drained = await drain_backlog(pool, worker, len(backlog), bench.tmp / "spy.txt" if spy else None,
                               timeout_s=90 + len(backlog) / 1000)
        print(f"ingest: backlog drained at {drained['events_per_s']:,.0f} events/s")
        await asyncio.sleep(1.0)  # let the last commit's acks settle
        latency = await _latency(settings, pool, worker, pairs, live_messages, scale.latency_rate)
        print(f"ingest: latency at {scale.latency_rate}/s: {latency['latency_ms']}")
        worker.sample_once()
    return {
        "backlog_publish_s": publish_s,
        "backlog_publish_per_s": len(backlog) / publish_s,
        "ratings_partitions": settings.ratings_partitions,
        **drained,
        **latency,
        **worker.memory(),
    }
