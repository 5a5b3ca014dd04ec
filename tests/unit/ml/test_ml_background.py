"""Training processes yield the CPU and die with their worker (ml.background)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ml.background import Background, current_policy
from ml.train import training_executor


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info()]


def test_a_training_process_runs_at_the_lowest_priority_with_bounded_blas() -> None:
    pool = training_executor(max_workers=1)
    try:
        nice, idle = pool.submit(current_policy).result(timeout=60)
        threads = pool.submit(_blas_threads).result(timeout=60)
    finally:
        pool.shutdown()
    assert nice == 19
    assert idle == hasattr(os, "SCHED_IDLE")
    assert threads and all(n == 1 for n in threads)


def test_the_settings_choose_how_it_runs() -> None:
    pool = training_executor(max_workers=1, background=Background(nice=7, idle=False, blas_threads=0))
    try:
        nice, idle = pool.submit(current_policy).result(timeout=60)
    finally:
        pool.shutdown()
    assert (nice, idle) == (7, False)


def test_no_background_leaves_the_process_as_started() -> None:
    pool = training_executor(max_workers=1, background=None)
    try:
        nice, idle = pool.submit(current_policy).result(timeout=60)
    finally:
        pool.shutdown()
    assert (nice, idle) == (os.getpriority(os.PRIO_PROCESS, 0), False)


PARENT = textwrap.dedent("""
    import os, sys, time
    from ml.train import training_executor
    pool = training_executor(max_workers=1)
    child = pool.submit(os.getpid).result(timeout=60)
    pool.submit(time.sleep, 600)  # a long fit in progress
    print(child, flush=True)
    time.sleep(600)
""")


def test_a_training_process_exits_when_its_worker_is_killed() -> None:
    root = Path(__file__).resolve().parents[3]
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, cwd=root)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert Path(f"/proc/{child}").exists()
        os.kill(parent.pid, signal.SIGKILL)  # no shutdown, no atexit
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the training process outlived its worker"
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (its new parent has not reaped it yet)
