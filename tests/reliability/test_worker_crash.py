"""kill -9 under load: nothing lost, nothing counted twice, no fit left running."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from bench.worker import descendants
from ml.synthetic import generate
from tests.harness import Pipeline, rating_messages

THRESHOLD = 1000


def _size(scale: str) -> int:
    return 100_000 if scale == "large" else 20_000


async def _assert_exactly_once(pipeline: Pipeline, total: int) -> None:
    assert await pipeline.scalar("SELECT count(*) FROM ratings") == total
    assert await pipeline.scalar("SELECT count(DISTINCT event_id) FROM ratings") == total
    # Every stored rating is counted once: in a request sent to the trainer or still pending.
    counted = await pipeline.scalar(
        "SELECT coalesce(sum(new_ratings), 0) + (SELECT pending FROM retrain_counter) "
        "FROM retrain_outbox")
    assert counted == total
    requests = await pipeline.pool.fetch("SELECT new_ratings, sent_at FROM retrain_outbox")
    assert sum(r["new_ratings"] for r in requests) // THRESHOLD == total // THRESHOLD
    assert all(r["new_ratings"] % THRESHOLD == 0 for r in requests)
    # A rated movie is never offered as an unrated suggestion.
    assert await pipeline.scalar(
        "SELECT count(*) FROM suggestions s JOIN ratings r USING (user_id, movie_id) "
        "WHERE NOT s.did_rate") == 0


@pytest.fixture
def big_pipeline(pipeline: Pipeline, scale: str) -> Pipeline:
    total = _size(scale)
    pipeline.data = generate(2000 if scale == "large" else 800, 120, total, seed=11)
    return pipeline


async def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(
    big_pipeline: Pipeline, scale: str
) -> None:
    pipeline, total = big_pipeline, _size(scale)
    overrides = {"STREAMREC_RETRAIN_EVERY_N_RATINGS": str(THRESHOLD)}
    victim = pipeline.worker(**overrides)
    await pipeline.publish(rating_messages(pipeline.data))
    await pipeline.wait_for("the worker to be mid-stream", lambda: _at_least(pipeline, total // 4))
    victim.stop(signal.SIGKILL)
    stored_at_kill = await pipeline.scalar("SELECT count(*) FROM ratings")
    assert stored_at_kill < total, "the kill must land mid-stream"

    pipeline.worker(**overrides)
    await pipeline.wait_for(f"all {total} ratings", lambda: _at_least(pipeline, total), timeout_s=240)
    await pipeline.wait_for("the outbox to drain", lambda: _outbox_sent(pipeline))
    await _assert_exactly_once(pipeline, total)


async def test_two_workers_one_killed_the_survivor_takes_over(
    big_pipeline: Pipeline, scale: str
) -> None:
    pipeline, total = big_pipeline, _size(scale)
    overrides = {"STREAMREC_RETRAIN_EVERY_N_RATINGS": str(THRESHOLD)}
    survivor = pipeline.worker(**overrides)
    victim = pipeline.worker(**overrides)
    await pipeline.publish(rating_messages(pipeline.data))
    await pipeline.wait_for("the workers to be mid-stream", lambda: _at_least(pipeline, total // 4))
    victim.stop(signal.SIGKILL)
    await pipeline.wait_for(f"all {total} ratings", lambda: _at_least(pipeline, total), timeout_s=240)
    await pipeline.wait_for("the outbox to drain", lambda: _outbox_sent(pipeline))
    assert survivor.proc is not None and survivor.proc.poll() is None
    await _assert_exactly_once(pipeline, total)


async def _at_least(pipeline: Pipeline, count: int) -> bool:
    return await pipeline.scalar("SELECT count(*) FROM ratings") >= count


async def _outbox_sent(pipeline: Pipeline) -> bool:
    return await pipeline.scalar("SELECT count(*) FROM retrain_outbox WHERE sent_at IS NULL") == 0


async def test_a_worker_killed_during_a_fit_leaves_no_training_process(pipeline: Pipeline) -> None:
    # A fit long enough to be killed in the middle of: many SVD epochs on a small set.
    pipeline.data = generate(300, 80, 6000, seed=12)
    victim = pipeline.worker(STREAMREC_RETRAIN_EVERY_N_RATINGS="1000", STREAMREC_SVD_EPOCHS="200000")
    await pipeline.publish(rating_messages(pipeline.data))
    assert victim.proc is not None
    worker_pid = victim.proc.pid

    async def fitting() -> bool:  # both processes started and one of them busy fitting
        training = _training_processes(worker_pid)
        return len(training) == 2 and max(_cpu_seconds(pid) for pid in training) > 5.0  # past imports

    await pipeline.wait_for("the worker to be fitting", fitting, timeout_s=120)
    training = _training_processes(worker_pid)
    victim.stop(signal.SIGKILL)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in training) and time.monotonic() < deadline:  # noqa: ASYNC110 - /proc
        await asyncio.sleep(0.1)
    assert not [pid for pid in training if _alive(pid)], "training processes outlived their worker"


def _training_processes(worker_pid: int) -> list[int]:
    """The worker's spawned pool processes (multiprocessing's resource tracker aside)."""
    found = []
    for pid in descendants(worker_pid)[1:]:
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"spawn_main" in command:
                found.append(pid)
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
