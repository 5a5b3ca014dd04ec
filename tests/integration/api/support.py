"""Helpers of the API tests: serving the app, seeding tables with SQL, reading topics back."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import asyncpg
import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer
from starlette.applications import Starlette

from api.app import create_app
from infra.repositories import models as models_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from infra.settings import Settings
from ml.model_store import ModelStore
from ml.scoring import SVDFactors
from ml.train import SVDParams, TrainResult

ADMIN_TOKEN = "s3cret-admin-token"


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app of ``settings`` with its lifespan running, and a client talking ASGI to it."""
    app: Starlette = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def add_movies(pool: asyncpg.Pool, movies: Iterable[tuple[int, str, float]]) -> None:
    await pool.executemany(
        "INSERT INTO movies (id, title, overview, popularity) VALUES ($1, $2, $3, $4)",
        [(mid, title, f"About {title}.", popularity) for mid, title, popularity in movies],
    )


async def add_suggestions(pool: asyncpg.Pool, user_id: int, rows: Iterable[tuple[int, float]],
                          version: str = "v1", rated: Iterable[int] = ()) -> None:
    """The user's list (movie, value), written as a prediction job writes it; then a
    rating of each movie in ``rated``, stored after the list was made."""
    ordered = sorted(rows, key=lambda row: (-row[1], row[0]))
    async with pool.acquire() as conn:
        read = await ratings_repo.rated_pairs(conn, [user_id])
        await suggestions_repo.replace_for_users(
            conn, [user_id], [(user_id, mid, value) for mid, value in ordered], version,
            rated_from=read.rated_from)
    for movie_id in rated:
        await add_rating(pool, user_id, movie_id)


async def add_rating(pool: asyncpg.Pool, user_id: int, movie_id: int, rating: float = 4.0) -> None:
    await pool.execute("INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", user_id)
    await pool.execute(
        "INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) "
        "VALUES ($1, $2, $3, now(), gen_random_uuid())",
        user_id, movie_id, rating,
    )


async def add_model(pool: asyncpg.Pool, version: str, *, rmse: float = 0.9, active: bool = False,
                    activated_minutes_ago: int | None = None) -> None:
    await pool.execute(
        "INSERT INTO model_versions (version_name, rmse, mae, n_ratings, sha256, path, is_active, "
        "activated_at) VALUES ($1, $2, 0.7, 1000, repeat('a', 64), '/models/' || $1, $3, "
        "CASE WHEN $4::int IS NULL THEN NULL ELSE now() - make_interval(mins => $4::int) END)",
        version, rmse, active, activated_minutes_ago,
    )


async def add_stored_model(pool: asyncpg.Pool, settings: Settings, *, rmse: float = 0.9,
                           activated_minutes_ago: int | None = None) -> str:
    """A tiny model saved in the store and recorded, as the trainer does; its version."""
    rng = np.random.default_rng(0)
    factors = SVDFactors(mu=3.5, bu=rng.normal(size=2), bi=rng.normal(size=3), pu=rng.normal(size=(2, 2)),
                         qi=rng.normal(size=(3, 2)), user_ids=np.arange(1, 3), movie_ids=np.arange(1, 4),
                         rating_scale=(0.5, 5.0))
    result = TrainResult(factors=factors, rmse=rmse, mae=0.7, n_ratings=100, n_test=20, test_size=0.2,
                         fit_seconds=0.0, params=SVDParams())
    saved = ModelStore(settings.model_dir).save(result, point_latest=False)
    async with pool.acquire() as conn:
        await models_repo.record(conn, version=saved.version, rmse=rmse, mae=0.7, n_ratings=100,
                                 params={}, sha256=saved.sha256, path=str(saved.path), ratings_through=None)
    if activated_minutes_ago is not None:
        await pool.execute(
            "UPDATE model_versions SET activated_at = now() - make_interval(mins => $2) "
            "WHERE version_name = $1", saved.version, activated_minutes_ago)
    return saved.version


async def consume(settings: Settings, topic: str, count: int = 1,
                  timeout_s: float = 15.0) -> list[tuple[bytes | None, dict[str, object]]]:
    """The first ``count`` messages of ``topic`` (key, JSON value), from the beginning."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic), bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[tuple[bytes | None, dict[str, object]]] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend((record.key, json.loads(record.value)) for record in records)
        assert len(found) >= count, f"{len(found)} of {count} message(s) on {topic} in {timeout_s} s"
        return found
    finally:
        await consumer.stop()


async def set_genres(pool: asyncpg.Pool, genres: dict[int, list[str]]) -> None:
    """Each movie's genres, as an import stores them."""
    await pool.executemany("UPDATE movies SET genres = $2 WHERE id = $1", list(genres.items()))
