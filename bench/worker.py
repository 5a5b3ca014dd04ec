"""A real `streamrec worker` subprocess of a benchmark run, with its memory sampled.

Memory: every ``interval`` seconds the worker and all its descendants (the training
process pool) are read from ``/proc``: the sum of their current RSS (a time series)
and each process's own peak (``VmHWM``).  The reported peak is the sum of the
per-process peaks: an upper bound of the tree's peak, and what a 1 GiB budget must
allow for.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

STREAMREC = str(Path(sys.executable).with_name("streamrec"))


def _status_kib(pid: int, field: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path, interval: float = 0.1) -> None:
        self.env, self.log, self.interval = env, log, interval
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.rss_series: list[list[float]] = []  # [seconds since start, bytes]
        self.peak_by_pid: dict[int, int] = {}  # VmHWM bytes of every process seen
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([STREAMREC, "worker"], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set() and self.proc is not None and self.proc.poll() is None:
            self.sample_once()
            self._stop.wait(self.interval)

    def sample_once(self) -> None:
        total = 0
        for pid in descendants(self.pid):
            total += _status_kib(pid, "VmRSS") * 1024
            hwm = _status_kib(pid, "VmHWM") * 1024
            self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), hwm)
        self.rss_series.append([round(time.perf_counter() - self.started_at, 2), total])

    @property
    def peak_rss_bytes(self) -> int:
        return sum(self.peak_by_pid.values())

    @property
    def peak_sampled_rss_bytes(self) -> int:
        return max((int(p[1]) for p in self.rss_series), default=0)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"the worker exited:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Seconds until the worker's agents run (Faust logs ``Ready``)."""
        import asyncio

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            if "Ready" in self.output():
                return time.perf_counter() - self.started_at
            await asyncio.sleep(0.1)
        raise TimeoutError(f"worker not ready after {timeout_s:.0f} s:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.alive():
            self.sample_once()
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def memory(self) -> dict[str, object]:
        series = self.rss_series
        step = max(1, len(series) // 300)  # keep the results file small
        return {
            "worker_peak_rss_bytes": self.peak_rss_bytes,
            "worker_peak_sampled_tree_rss_bytes": self.peak_sampled_rss_bytes,
            "worker_processes_seen": len(self.peak_by_pid),
            "rss_series": series[::step],
        }


@contextlib.asynccontextmanager
async def worker_session(worker: WorkerProcess, pool: Any) -> AsyncIterator[WorkerProcess]:
    """A benchmark's worker and pool: the worker's last output shown if the body fails;
    the worker stopped and the pool closed whatever happens."""
    try:
        yield worker
    except BaseException:
        print(worker.output()[-3000:])
        raise
    finally:
        worker.stop()
        await pool.close()
