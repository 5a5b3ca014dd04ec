"""Agents inside Faust's ``test_context()`` (no broker, no Postgres): what an agent must
decide without touching a service."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import faust
import pytest

from agents.worker import build_worker_app
from infra.settings import Settings
from schemas.events import ModelPublished


def _settings(tmp_path: Path) -> Settings:
    # Nothing listens on these: an agent that reached for a service would fail the test.
    return Settings(home=tmp_path, kafka_bootstrap="127.0.0.1:1",
                    database_url="postgresql://nobody:nothing@127.0.0.1:1/none")


async def test_fan_out_ignores_models_not_activated_and_announcements_of_covered_ones(
        tmp_path: Path) -> None:
    app, deps = build_worker_app(_settings(tmp_path))
    fanout = app.agents["streamrec.fanout"]
    not_activated = ModelPublished(version="v2", rmse=0.99, mae=0.8, n_ratings=10, activated=False,
                                   decision="not activated: worse")
    covered = ModelPublished(version="v1", rmse=0.9, mae=0.7, n_ratings=10, activated=True,
                             covered=True)

    async with fanout.test_context() as agent:  # the topic is read as bytes, as from Kafka
        await agent.put(not_activated.dumps())
        await agent.put(covered.dumps())
        await agent.put(b"not json")  # logged and skipped, the agent goes on

    assert deps._pool is None  # never asked Postgres for the users
    _close_thread_loops(app)


def _close_thread_loops(app: faust.App) -> None:
    """Faust's consumer and producer made event loops for threads they never started."""
    for service in (app.consumer, app.producer):
        thread = getattr(service, "_thread", None)
        loop = getattr(thread, "thread_loop", None)
        if loop is not None and not loop.is_running():
            loop.close()



def _die() -> None:
    os._exit(1)


async def test_a_broken_training_pool_is_replaced(tmp_path: Path) -> None:
    app, deps = build_worker_app(_settings(tmp_path))
    first = deps.training_executor()
    with pytest.raises(BrokenProcessPool):
        await asyncio.get_running_loop().run_in_executor(first, _die)
    second = deps.training_executor()
    try:
        assert second is not first
        assert await asyncio.get_running_loop().run_in_executor(second, abs, -3) == 3
    finally:
        await deps.close()
        _close_thread_loops(app)
