"""online: the worker's attribution of ratings to the impressions that showed them.

On a throw-away database and topics of the run's own, with the scale's movies: a backlog
of impressions (10 movies each, served within the last hour, for random users) is
published and drained by a real ``streamrec worker``; then a backlog of ratings by the
same users, half of them of a movie one of their impressions showed, is drained by the
same worker, which stores each batch and credits it to impressions in one statement.
Rates are from the first to the last row visible in Postgres. The attributions stored
must be exactly the attributable ratings.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import pandas as pd

from bench.common import Scale, at_least, bench_run
from bench.dataload import load_movies
from bench.ingest import drain_backlog, encode_ratings, publish_backlog
from bench.worker import WorkerProcess, worker_session
from infra import db
from infra.settings import Settings
from ml.synthetic import generate
from schemas.events import ImpressionEvent
from schemas.impressions import encode_impression

SHOWN = 10
POLL_S = 0.05
METHOD = (
    "A throw-away database with the scale's synthetic movies and topics of the run's own. A "
    "backlog of impressions (10 distinct movies each, `served_at` spread over the last hour, "
    "random users) is published, then drained by a real `streamrec worker` (rate from the "
    "first to the last stored row, polled every 50 ms); then a backlog of twice as many "
    "ratings by the same users, half of them of a movie one of the user's impressions showed "
    "(rated now), half of other movies, is drained by the same worker, which stores each "
    "batch of ratings and credits it to impressions in one set-based statement. The "
    "attributions stored are counted against the attributable ratings."
)
LIMITS = (
    "The phases run one after the other, not interleaved as in production, so each rate is "
    "that of its topic alone on the worker; the ratings' drain includes their attribution. "
    "Measured on a shared 2-core machine running Kafka, Postgres and the worker."
)


def _backlogs(n_users: int, n_movies: int, n_impressions: int, seed: int = 3
              ) -> tuple[list[tuple[bytes, bytes]], pd.DataFrame, int]:
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    users = rng.integers(1, n_users + 1, n_impressions)
    shown = [rng.choice(n_movies, SHOWN, replace=False) + 1 for _ in range(n_impressions)]
    impressions = [encode_impression(ImpressionEvent(
        event_id=str(uuid.uuid4()), user_id=int(u), movie_ids=[int(m) for m in movies], model_version="v1",
        made_by="batch", source="model", served_at=now - timedelta(seconds=float(rng.uniform(60, 3600)))))
        for u, movies in zip(users, shown, strict=True)]
    # Per impression: one rating of a shown movie and one of a random movie.
    pairs: dict[tuple[int, int], bool] = {}
    for u, movies in zip(users.tolist(), shown, strict=True):
        pairs.setdefault((u, int(movies[rng.integers(SHOWN)])), True)
    seen = {(u, int(m)) for u, movies in zip(users.tolist(), shown, strict=True) for m in movies}
    for u in users.tolist():
        movie = int(rng.integers(1, n_movies + 1))
        if (u, movie) not in seen:
            pairs.setdefault((u, movie), False)
    frame = pd.DataFrame([(u, m, 4.0, pd.Timestamp(now)) for (u, m) in pairs],
                         columns=["user_id", "movie_id", "rating", "rated_at"])
    return impressions, frame, sum(pairs.values())


async def _drain_impressions(pool: asyncpg.Pool, worker: WorkerProcess, n: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while True:
        worker.check_alive()
        stored = int(await pool.fetchval("SELECT count(*) FROM impressions"))
        now = time.perf_counter()
        if stored and first is None:
            first = (now, stored)
        if stored >= n:
            assert first is not None
            return (n - first[1]) / max(now - first[0], 1e-9)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{stored:,} of {n:,} impressions stored after {timeout_s:.0f} s")
        await asyncio.sleep(POLL_S)


async def _settled_count(pool: asyncpg.Pool, query: str, expected: int, quiet_s: float = 2.0) -> int:
    """The count once it reaches ``expected`` or stops changing for ``quiet_s`` (a batch
    is credited just after its ratings are stored, so the drain ends a little before)."""
    last, since = -1, time.monotonic()
    while True:
        count = int(await pool.fetchval(query))
        if count >= expected:
            return count
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return count
        await asyncio.sleep(POLL_S)


async def run(base: Settings, scale: Scale) -> dict[str, Any]:
    smoke = scale.name == "smoke"
    n_impressions = 1_000 if smoke else 50_000
    data = generate(scale.n_users, scale.n_movies, 1000, seed=1)
    impressions, ratings, attributable = _backlogs(scale.n_users, scale.n_movies, n_impressions)
    async with bench_run(base, "online", topics=True) as bench:
        pool = await db.create_pool(bench.settings)
        worker = WorkerProcess(bench.worker_env(STREAMREC_SPEED_LAYER="false"), bench.tmp / "worker.log")
        async with worker_session(worker, pool):
            async with pool.acquire() as conn:
                await load_movies(conn, data)
            await publish_backlog(bench.settings, impressions, "impressions")
            worker.start()
            await worker.wait_ready(timeout_s=120)
            impressions_per_s = await _drain_impressions(pool, worker, len(impressions),
                                                         120 + n_impressions / 100)
            await publish_backlog(bench.settings, encode_ratings(ratings))
            drained = await drain_backlog(pool, worker, len(ratings), None,
                                          timeout_s=120 + len(ratings) / 100)
            credited = await _settled_count(pool, "SELECT count(*) FROM attributions", attributable)
            worker.stop()
    print(f"online: impressions {impressions_per_s:,.0f}/s; ratings with attribution "
          f"{drained['events_per_s']:,.0f}/s; {credited:,} attributions of {attributable:,} attributable "
          f"ratings ({len(ratings):,} ratings)")
    targets = [
        at_least("impressions stored per second", impressions_per_s, 500.0, "/s"),
        at_least("ratings stored and attributed per second", drained["events_per_s"], 1000.0, "/s"),
        at_least("attributions stored / attributable ratings (exactly 1)",
                 credited / attributable if credited <= attributable else 0.0, 1.0, "x"),
    ]
    return {
        "method": METHOD, "limits": LIMITS, "impressions": len(impressions), "ratings": len(ratings),
        "attributable": attributable, "attributions": credited,
        "attributions_exact": credited == attributable,
        "impressions_per_s": impressions_per_s, "ratings_attributed_per_s": drained["events_per_s"],
        "worker_peak_rss_bytes": worker.peak_rss_bytes, "targets": [t.as_dict() for t in targets],
    }
