"""``streamrec demo``: the README's main job — the whole pipeline on built-in data.

Brings the stack up, migrates, creates the topics, loads the demo movies, starts a
worker and the API, streams the demo ratings through Kafka, waits for a model and its
suggestions, prints a report, and serves until Ctrl-C (or ``--exit-after`` seconds).
Everything it started is stopped at the end; what was already running is left alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import typer

from cli.models import train_and_wait
from cli.output import console, print_table, settings_of
from infra import db
from infra.demo_data import DEMO_MOVIES, DEMO_RATINGS, DEMO_SEED, DEMO_USERS
from infra.errors import ServiceUnavailable
from infra.importer import import_dataset, synthetic_dataset
from infra.repositories import ratings as ratings_repo
from infra.repositories import serving
from infra.settings import Settings
from infra.stack import control
from schemas.errors import StreamrecError
from schemas.events import ModelPublished
from streams import rating_producer, topic_admin
from streams.publisher import EventPublisher

T = TypeVar("T")
STREAMREC = str(Path(sys.executable).with_name("streamrec"))
SAMPLE_USERS = (1, 2, 3)


def _step(number: int, title: str, action: Callable[[], T],
          describe: Callable[[T], str] = str) -> T:
    console.print(f"[bold]{number}. {title}[/] …", highlight=False)
    started = time.monotonic()
    try:
        outcome = action()
    except StreamrecError as err:
        err.message = f"demo step {number} ({title}) failed: {err.message}"
        raise
    console.print(f"   {describe(outcome)} ({time.monotonic() - started:.1f} s)", highlight=False)
    return outcome


def _stack_up(settings: Settings) -> bool:
    """Start what is not running; True when the demo started something."""
    outcomes: list[str] = []
    control.up(settings, lambda service, outcome: outcomes.append(f"{service} {outcome}"))
    console.print(f"   {', '.join(outcomes)}: kafka at {settings.kafka_bootstrap}, "
                  f"postgres at {db.redact(settings.database_url)}", highlight=False)
    return any(" started" in outcome for outcome in outcomes)


def _load_movies(settings: Settings) -> str:
    data = synthetic_dataset(DEMO_USERS, DEMO_MOVIES, DEMO_RATINGS, DEMO_SEED)
    movies_only = replace(data, ratings=None, user_ids=())  # ratings come through Kafka
    result = asyncio.run(import_dataset(settings, movies_only))
    return f"{result.movies_read} movies ({result.movies_new} new)"


@contextmanager
def _processes(settings: Settings) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """The worker and the API as child processes, logs under STREAMREC_HOME/logs."""
    logs = settings.home.resolve() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for name, argv in (("worker", [STREAMREC, "worker"]), ("api", [STREAMREC, "api"])):
            with (logs / f"demo-{name}.log").open("ab") as log:
                started.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                env=os.environ.copy()))
        yield started[0], started[1]
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_api(settings: Settings, api: subprocess.Popen[bytes], timeout_s: float = 60) -> str:
    url = f"http://{settings.api_host}:{settings.api_port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise StreamrecError(f"the API exited with code {api.returncode}",
                                 hint=f"see {settings.home.resolve() / 'logs' / 'demo-api.log'}; "
                                 f"is port {settings.api_port} free? (STREAMREC_API_PORT)")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return url
        except OSError:
            time.sleep(0.2)
    raise ServiceUnavailable(f"the API did not answer at {url} in {timeout_s:.0f} s",
                             hint=f"see {settings.home.resolve() / 'logs' / 'demo-api.log'}")


def _stream_ratings(settings: Settings, since: datetime, timeout_s: float = 300) -> str:
    async def run() -> str:
        messages = rating_producer.synthetic(DEMO_RATINGS, DEMO_SEED)
        produced = await rating_producer.publish(settings, messages, batch=2000)
        pool = await db.create_pool(settings)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                async with pool.acquire() as conn:
                    stored = await ratings_repo.ingested_since(conn, since)
                if stored >= produced.sent:
                    return (f"published {produced.sent} ratings at {produced.rate:,.0f}/s; "
                            f"the worker stored them all")
                await asyncio.sleep(0.25)
        finally:
            await pool.close()
        raise ServiceUnavailable("the worker did not store the demo ratings in time",
                                 hint=f"see {settings.home.resolve() / 'logs' / 'demo-worker.log'}")

    return asyncio.run(run())


def _train(settings: Settings) -> ModelPublished:
    async def run() -> ModelPublished:
        pool = await db.create_pool(settings)
        publisher = EventPublisher(settings)
        await publisher.start()
        try:
            return await train_and_wait(settings, pool, publisher, time.monotonic() + 600)
        finally:
            await publisher.stop()
            await pool.close()

    return asyncio.run(run())


def _decision(model: ModelPublished) -> str:
    if model.activated:
        return f"model {model.version} is serving"
    return (f"model {model.version} was recorded but not activated ({model.decision}); "
            "the active model keeps serving")


def _report(settings: Settings, model: ModelPublished, url: str) -> None:
    async def fetch() -> list[serving.Served]:
        pool = await db.create_pool(settings)
        try:
            return [await serving.suggestions_for(pool, user, 5) for user in SAMPLE_USERS]
        finally:
            await pool.close()

    console.print(f"\n[bold]model[/] {model.version}: held-out RMSE {model.rmse:.4f}, "
                  f"MAE {model.mae:.4f}, trained on {model.n_ratings} ratings", highlight=False)
    console.print(f"  the gate: {model.decision}", highlight=False, markup=False)
    for served in asyncio.run(fetch()):
        print_table(f"user {served.user_id}: top suggestions ({served.source})",
                    ["movie", "title", "predicted"],
                    [(s.id, s.title, f"{s.score:.2f}") for s in served.suggestions])
    console.print(f"\nthe page:  {url}/\nthe API:   {url}/api/suggestions/?user_id=1", highlight=False)


def demo(
    ctx: typer.Context,
    exit_after: float | None = typer.Option(
        None, "--exit-after", help="Serve this many seconds after the report, then stop."),
) -> None:
    """Run the whole pipeline on the built-in demo data and serve it until Ctrl-C."""
    settings = settings_of(ctx)
    started_stack = _step(1, "start Kafka and Postgres", lambda: _stack_up(settings),
                          lambda started: "started" if started else "already running")
    try:
        _step(2, "migrate the schema",
              lambda: f"applied {len(db.migrate(settings.database_url))} migration(s)")
        _step(3, "create the topics",
              lambda: f"created {len(asyncio.run(topic_admin.ensure_topics(settings)))} topic(s)")
        _step(4, "load the demo movies", lambda: _load_movies(settings))
        with _processes(settings) as (_worker, api):
            url = _step(5, "start the worker and the API", lambda: _wait_for_api(settings, api))
            since = datetime.now(UTC)
            _step(6, "stream the demo ratings through Kafka", lambda: _stream_ratings(settings, since))
            model = _step(7, "train a model and write everyone's suggestions",
                          lambda: _train(settings), _decision)
            _report(settings, model, url)
            _serve(exit_after)
    finally:
        if started_stack:
            console.print("stopping the stack the demo started …", highlight=False)
            control.down(settings, lambda service, outcome: None)


def _serve(exit_after: float | None) -> None:
    if exit_after is not None:
        console.print(f"serving for {exit_after:.0f} s …", highlight=False)
        time.sleep(exit_after)
        return
    console.print("serving; press Ctrl-C to stop", highlight=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping …", highlight=False)
