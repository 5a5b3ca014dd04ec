"""``streamrec models list | online | train | activate | rollback | export | import``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import typer
from aiokafka import AIOKafkaConsumer

from cli.output import console, print_json, print_table, settings_of
from infra import db, model_files
from infra.errors import ServiceUnavailable
from infra.repositories import artifacts as artifacts_repo
from infra.repositories import impressions as impressions_repo
from infra.repositories import models as models_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from infra.repositories.models import ModelVersion, UnknownModelVersion
from infra.settings import Settings
from infra.shared_models import SharedModelStore
from ml.model_store import ModelStore, check_version
from ml.online import version_figures
from schemas.errors import StreamrecError
from schemas.events import ModelPublished
from streams import model_admin
from streams.publisher import EventPublisher

app = typer.Typer(help="Model versions: list, online figures, train, activate, roll back, export, import.",
                  no_args_is_help=True)
T = TypeVar("T")

NOT_ACTIVATED_EXIT = 3


@asynccontextmanager
async def _services(settings: Settings, *, kafka: bool) -> AsyncIterator[tuple[asyncpg.Pool, EventPublisher]]:
    pool = await db.create_pool(settings)
    publisher = EventPublisher(settings)
    try:
        if kafka:
            await publisher.start()
        yield pool, publisher
    finally:
        if kafka:
            await publisher.stop()
        await pool.close()


def _run(settings: Settings, work: Callable[[asyncpg.Pool, EventPublisher], Awaitable[T]],
         *, kafka: bool = True) -> T:
    async def main() -> T:
        async with _services(settings, kafka=kafka) as (pool, publisher):
            return await work(pool, publisher)

    return asyncio.run(main())


def _store(settings: Settings, pool: asyncpg.Pool) -> SharedModelStore:
    return SharedModelStore.over(ModelStore(settings.model_dir, keep=settings.models_to_keep), pool)


def _rows(versions: list[ModelVersion], artifacts: list[str | None]) -> list[tuple[object, ...]]:
    return [(v.version_name, f"{v.rmse:.4f}", f"{v.mae:.4f}", _figure(v.ndcg_at_10),
             _figure(v.baseline_ndcg_at_10), v.n_ratings,
             v.created_at.strftime("%Y-%m-%d %H:%M:%S"), "yes" if v.is_active else "",
             "ok" if problem is None else problem, v.engine, v.decision)
            for v, problem in zip(versions, artifacts, strict=True)]


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@app.command("list")
def list_models(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Versions with their held-out RMSE and MAE, their list's NDCG@10 (and popularity's
    on the same split), newest first, and whether each one's artifact can be loaded:
    a local file matching its recorded sha256, or a copy in Postgres."""
    settings = settings_of(ctx)

    async def work(pool: asyncpg.Pool, _: EventPublisher) -> tuple[list[ModelVersion], list[str | None],
                                                                   dict[str, int]]:
        async with pool.acquire() as conn:
            versions = await models_repo.list_versions(conn)
            shared = await artifacts_repo.sizes(conn)
        store = _store(settings, pool)
        problems = [await store.check(v, shared.get(v.version_name)) for v in versions]
        return versions, problems, shared

    versions, artifacts, shared = _run(settings, work, kafka=False)
    if as_json:
        print_json([{**v.as_json(), "artifact_ok": problem is None, "artifact_problem": problem,
                     "shared_bytes": shared.get(v.version_name)}
                    for v, problem in zip(versions, artifacts, strict=True)])
    elif not versions:
        console.print("no model yet: train one with `streamrec models train --wait`")
    else:
        print_table("model versions", ["version", "rmse", "mae", "ndcg@10", "popular ndcg@10", "ratings",
                                       "created (UTC)", "active", "artifact", "engine", "decision"],
                    _rows(versions, artifacts))


ONLINE_WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "all": None}


def _rate(rate: dict[str, Any], digits: int = 3) -> str:
    if rate["value"] is None:
        return "-"
    if rate["low"] is None:
        return f"{rate['value']:.{digits}f}"
    return f"{rate['value']:.{digits}f} [{rate['low']:.{digits}f}, {rate['high']:.{digits}f}]"


@app.command("online")
def online(ctx: typer.Context,
           window: str = typer.Option("day", "--window", help="hour, day or all (since start)"),
           as_json: bool = typer.Option(False, "--json", help="every window, as JSON")) -> None:
    """What users did after being shown each version's lists: impressions, users, hit
    rate (impressions followed by a rating of a shown movie), mean rating of
    shown-then-rated movies and hide rate, with 95% intervals."""
    if window not in ONLINE_WINDOWS:
        raise typer.BadParameter(f"{window!r} is not a window: give hour, day or all", param_hint="--window")
    settings = settings_of(ctx)
    wanted = list(ONLINE_WINDOWS) if as_json else [window]
    now = datetime.now(UTC)

    async def work(pool: asyncpg.Pool, _: EventPublisher) -> dict[str, list[Any]]:
        async with pool.acquire() as conn:
            found = {}
            for name in wanted:
                span = ONLINE_WINDOWS[name]
                found[name] = await impressions_repo.online(conn, None if span is None else now - span)
            return found

    found = _run(settings, work, kafka=False)
    figures = {name: [{"model_version": row.version, **version_figures(
        impressions=row.impressions, users=row.users, hits=row.hits, hides=row.hides, rated=row.rated,
        mean_rating=row.mean_rating, sd_rating=row.sd_rating)} for row in rows]
        for name, rows in found.items()}
    if as_json:
        print_json({"attribution_window_s": settings.attribution_window.total_seconds(), "windows": figures})
        return
    rows = figures[window]
    if not rows:
        console.print(f"no impressions in this window ({window}): suggestions served by the API are "
                      "logged as impressions while STREAMREC_API_IMPRESSIONS is on")
        return
    print_table(f"online, last {window}" if window != "all" else "online, since start",
                ["version", "impressions", "users", "hit rate [95%]", "ratings", "mean rating [95%]",
                 "hide rate [95%]"],
                [(r["model_version"] or "(no model)", r["impressions"], r["users"], _rate(r["hit_rate"]),
                  r["rated"], _rate(r["mean_rating"], 2), _rate(r["hide_rate"])) for r in rows])


@app.command()
def activate(ctx: typer.Context, version: str) -> None:
    """Make VERSION the serving model; its suggestions are recomputed."""
    settings = settings_of(ctx)
    activated = _run(settings, lambda pool, pub: model_admin.activate(
        pool, pub, _store(settings, pool), version))
    console.print(f"active model: {activated.version_name} (rmse {activated.rmse:.4f})", highlight=False)


@app.command()
def rollback(ctx: typer.Context) -> None:
    """Re-activate the model that was active before the current one."""
    settings = settings_of(ctx)
    activated = _run(settings, lambda pool, pub: model_admin.rollback(pool, pub, _store(settings, pool)))
    console.print(f"active model: {activated.version_name} (rmse {activated.rmse:.4f})", highlight=False)


@app.command("export")
def export_model(ctx: typer.Context, version: str, file: Path) -> None:
    """Write VERSION (its recorded figures and its artifact) to FILE, for `models import`
    on another deployment."""
    settings = settings_of(ctx)
    check_version(version)

    async def work(pool: asyncpg.Pool, _: EventPublisher) -> tuple[ModelVersion, int]:
        async with pool.acquire() as conn:
            found = await models_repo.get(conn, version)
        if found is None:
            async with pool.acquire() as conn:
                await models_repo.activate(conn, version)  # raises, listing the known versions
            raise UnknownModelVersion(f"no model version {version!r}")
        data = await _store(settings, pool).read(found)
        return found, await asyncio.to_thread(model_files.write, file, found, data)

    if file.is_dir():
        raise StreamrecError(f"{file} is a directory", hint="give a file name, e.g. model.zip")
    if not file.parent.is_dir():
        raise StreamrecError(f"{file.parent} does not exist", hint="create the directory first")
    exported, size = _run(settings, work, kafka=False)
    console.print(f"exported {exported.version_name} ({size:,} bytes, sha256 {exported.sha256}) "
                  f"to {file}", highlight=False)


@app.command("import")
def import_model(ctx: typer.Context, file: Path) -> None:
    """Record the version in FILE (from `models export`), not active, after checking its
    artifact against the sha256 it carries; `models activate VERSION` then serves it."""
    settings = settings_of(ctx)
    loaded = model_files.read(file)

    async def work(pool: asyncpg.Pool, _: EventPublisher) -> bool:
        async with pool.acquire() as conn, conn.transaction():
            present = await models_repo.get(conn, loaded.version)
            if present is not None:
                if present.sha256.lower() == loaded.sha256:
                    return False
                raise StreamrecError(
                    f"version {loaded.version} exists here with another sha256 "
                    f"({present.sha256}): not imported", hint="this file is not that version")
            await models_repo.record_imported(conn, loaded.record, source=file.name)
            await artifacts_repo.write(conn, loaded.version, loaded.data)
        return True

    if _run(settings, work, kafka=False):
        console.print(f"imported {loaded.version} ({len(loaded.data):,} bytes, sha256 verified); "
                      f"serve it with `streamrec models activate {loaded.version}`", highlight=False)
    else:
        console.print(f"{loaded.version} is already here, with the same sha256", highlight=False)


@app.command()
def train(
    ctx: typer.Context,
    wait: bool = typer.Option(False, "--wait", help="Wait for the model and its suggestions."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait with --wait."),
) -> None:
    """Ask the worker for a new model now. With --wait: exit 0 once it is active and its
    suggestions are written, exit 3 if it was recorded but not activated."""
    settings = settings_of(ctx)

    async def work(pool: asyncpg.Pool, publisher: EventPublisher) -> ModelPublished | None:
        if not wait:
            request = await publisher.request_retrain("manual")
            console.print(f"retrain requested ({request.request_id})", highlight=False)
            return None
        return await train_and_wait(settings, pool, publisher, time.monotonic() + timeout)

    published = _run(settings, work)
    if published is not None and not published.activated:
        console.print(f"model {published.version} {published.decision}", highlight=False)
        raise typer.Exit(NOT_ACTIVATED_EXIT)


async def train_and_wait(settings: Settings, pool: asyncpg.Pool, publisher: EventPublisher,
                          deadline: float) -> ModelPublished:
    consumer = AIOKafkaConsumer(settings.topic("model-events"), bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.seek_to_end()
        await consumer.position(next(iter(consumer.assignment())))  # positioned before we ask
        request = await publisher.request_retrain("manual")
        console.print(f"retrain requested ({request.request_id}); waiting for the worker …",
                      highlight=False)
        published = await _wait_for_model(consumer, request.request_id, deadline)
    finally:
        await consumer.stop()
    console.print(f"model {published.version}: rmse {published.rmse:.4f}, mae {published.mae:.4f}, "
                  f"{published.n_ratings} ratings — {published.decision}", highlight=False)
    if published.activated:
        await _wait_for_suggestions(pool, published.version, deadline)
    return published


async def _wait_for_model(consumer: AIOKafkaConsumer, request_id: str, deadline: float) -> ModelPublished:
    while time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            for record in records:
                published = ModelPublished.loads(record.value)
                if request_id in published.request_ids:
                    return published
    raise ServiceUnavailable("no model was published in time",
                             hint="is a worker running? start one with `streamrec worker`")


async def _wait_for_suggestions(pool: asyncpg.Pool, version: str, deadline: float) -> None:
    async with pool.acquire() as conn:
        users = await ratings_repo.user_count(conn)
        while time.monotonic() < deadline:
            served = await suggestions_repo.users_served_by(conn, version)
            if served >= users:
                console.print(f"suggestions written for {served} user(s)", highlight=False)
                return
            await asyncio.sleep(0.2)
    raise StreamrecError(f"suggestions of model {version} were not all written in time",
                         hint="check the worker's log; `streamrec topics lag` shows pending jobs")
