"""Shared fixtures: the settings object, and the real Kafka + Postgres services.

Service tests use the stack named by the STREAMREC_* environment (CI starts it with
`streamrec stack up`); when it is not running, the first service test starts it and
the session stops it again.  A service that cannot be reached fails the test: nothing
here skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import psycopg
import pytest
from psycopg import sql

from infra import db
from infra.settings import Settings
from infra.stack import control
from streams import topic_admin
from tests.harness import Pipeline, open_pipeline


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--scale", choices=("ci", "large"), default="ci",
        help="size of the reliability tests: `ci` fits CI's budget, `large` is for local runs",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/integration and tests/reliability needs the services.
    for item in items:
        if {"integration", "reliability"} & set(item.path.parts):
            item.add_marker(pytest.mark.service)


@pytest.fixture(scope="session")
def scale(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--scale"))


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def stack(base_settings: Settings) -> Iterator[Settings]:
    """The running stack; started for this session when it is not up."""
    current = control.status(base_settings)
    started_here = "down" in (current.kafka, current.postgres)
    if started_here:
        control.up(base_settings, lambda service, outcome: None)
    yield base_settings
    if started_here:
        control.down(base_settings, lambda service, outcome: None)


@pytest.fixture
async def settings(stack: Settings) -> AsyncIterator[Settings]:
    """Settings with a topic prefix of this test's own, so tests never share topics;
    its topics are deleted afterwards (best effort: the test's outcome stands)."""
    own = stack.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:12]}."})
    yield own
    await _delete_topics(own)


async def _delete_topics(settings: Settings, app_id: str | None = None) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(topic_admin.delete_run_topics(settings, app_id=app_id), timeout=15)


@contextlib.contextmanager
def scratch_database(stack: Settings) -> Iterator[str]:
    """An empty database of its own on the stack's server, dropped afterwards."""
    name = f"streamrec_t{uuid.uuid4().hex[:12]}"
    admin_url = stack.database_url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield stack.database.with_name(name)
    finally:
        db.drop_database(admin_url, name)


@pytest.fixture
def empty_database_url(stack: Settings) -> Iterator[str]:
    """A fresh database without streamrec's schema, dropped afterwards."""
    with scratch_database(stack) as url:
        yield url


@pytest.fixture
def database_url(stack: Settings) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    with scratch_database(stack) as url:
        db.migrate(url)
        yield url


@pytest.fixture
async def pool(settings: Settings, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(settings, database_url=database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def pipeline(
    settings: Settings, database_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    """A throw-away database with the built-in demo movies, topics of this test's own,
    and a place for worker processes (started by the test)."""
    pipe = await open_pipeline(settings, database_url, pool, tmp_path)
    yield pipe
    pipe.stop_workers()
    await _delete_topics(pipe.settings, app_id=pipe.settings.app_id)
