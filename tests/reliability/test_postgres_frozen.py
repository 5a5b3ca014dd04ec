"""A frozen Postgres (every server process stopped, connections open): the API answers
503 within its database timeout instead of hanging for the whole freeze, and recovers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx

from infra.stack import postgres
from tests.harness import Pipeline
from tests.integration.api.support import serve
from tests.reliability.test_service_restarts import api_settings

DB_TIMEOUT_S = 1.0


def _server_processes(postmaster: int) -> list[int]:
    found, todo = [], [postmaster]
    while todo:
        pid = todo.pop()
        found.append(pid)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return found


async def test_a_frozen_postgres_gives_503_in_bounded_time(fault_pipeline: Pipeline) -> None:
    settings = api_settings(fault_pipeline).model_copy(update={"api_db_timeout_s": DB_TIMEOUT_S})
    record = postgres.running(fault_pipeline.settings)
    assert record is not None, "the fault stack's Postgres runs"
    async with serve(settings) as api:
        assert (await api.get("/api/suggestions/", params={"user_id": 1})).status_code == 200
        frozen = _server_processes(record.pid)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            answer = await api.get("/api/suggestions/", params={"user_id": 1})
            took = time.monotonic() - started
            assert answer.status_code == 503 and "error" in answer.json()
            assert took < DB_TIMEOUT_S + 3, f"a request on a frozen connection took {took:.1f} s"
            started = time.monotonic()
            ready = await api.get("/readyz")
            assert ready.status_code == 503 and time.monotonic() - started < 4
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        await fault_pipeline.wait_for("the API to answer again", lambda: _answers(api), timeout_s=60)


async def _answers(api: httpx.AsyncClient) -> bool:
    await asyncio.sleep(0.2)
    return (await api.get("/api/suggestions/", params={"user_id": 1})).status_code == 200
