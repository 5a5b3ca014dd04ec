"""A Kafka + Postgres stack of the reliability tests' own (own ports and home), so they
can stop and restart the services without disturbing anything else."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from infra import db
from infra.settings import Settings
from infra.stack import control
from tests.harness import Pipeline, open_pipeline


@pytest.fixture(scope="module")
def own_stack(base_settings: Settings) -> Iterator[Settings]:
    home = Path(tempfile.mkdtemp(prefix="streamrec-faults-"))
    settings = control.private_settings(base_settings, home)
    control.up(settings, lambda service, outcome: None)
    db.migrate(settings.database_url)
    yield settings
    control.down(settings, lambda service, outcome: None)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def fault_pipeline(own_stack: Settings, tmp_path: Path) -> AsyncIterator[Pipeline]:
    settings = own_stack.model_copy(update={"topic_prefix": f"f{tmp_path.name[-12:]}."})
    pool = await db.create_pool(settings)
    async with pool.acquire() as conn:  # one database per module: start each test clean
        await conn.execute("TRUNCATE ratings, user_lists, users, model_versions, retrain_outbox, "
                           "movies CASCADE; UPDATE retrain_counter SET pending = 0")
    pipe = await open_pipeline(settings, settings.database_url, pool, tmp_path)
    yield pipe
    pipe.stop_workers()
    await pool.close()
