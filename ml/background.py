"""A training process that yields the machine to serving: it runs at the lowest CPU
priority, with its BLAS/OpenMP threads bounded, and dies with the worker that started it.

A fit is throughput work; the worker's event loop (ingest, the speed layer), the API,
Postgres and Kafka are latency work on the same cores. At ``nice`` 19 the fit still gets
about 1.5% of a core against a busy normal process; ``SCHED_IDLE`` (Linux, allowed for
any user) gives it only what nobody else wants. Every thread of the process is moved,
including the BLAS pool that numpy started when it was imported, before the fit begins;
threads started later inherit the policy.

A watchdog thread ends the process once its parent is gone: a worker killed with
SIGKILL cannot shut its pool down, and a training process would otherwise go on fitting
(and holding its memory) for nobody. (Not prctl's parent-death signal: Linux sends that
when the *thread* that started the child exits, which in a pool is not the worker's end.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ORPHAN_CHECK_S = 0.5  # how often a training process looks for its parent


@dataclass(frozen=True)
class Background:
    """How a training process runs: ``nice`` (0-19), ``idle`` (``SCHED_IDLE`` where Linux
    allows it) and ``blas_threads`` (per process; 0 leaves the libraries' default)."""

    nice: int = 19
    idle: bool = True
    blas_threads: int = 1


@dataclass(frozen=True)
class Applied:
    """What :func:`enter_background` managed to set, for the log and the tests."""

    nice: int
    idle: bool
    blas_threads: int | None
    dies_with_parent: bool


def _threads() -> list[int]:
    try:
        return [int(task.name) for task in Path("/proc/self/task").iterdir()]
    except OSError:  # not Linux: the calling thread only
        return [0]


def _lower_priority(tid: int, nice: int, idle: bool) -> bool:
    """Nice ``tid`` (0: the calling thread) and, if asked, put it in SCHED_IDLE; returns
    whether SCHED_IDLE was set."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, nice)
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            return True
        except OSError:
            return False
    return False


def _bound_blas(threads: int) -> int | None:
    if threads <= 0:
        return None
    # Libraries loaded from now on read these; the ones loaded already are limited below.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    # Load the BLAS the fits use (numpy's, and scipy's own) so the limit reaches them.
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    # Kept for the process's life: leaving the limiter's context would restore the default.
    threadpool_limits(limits=threads)
    return threads


def _exit_when_orphaned(parent: int) -> None:
    # An orphan is re-parented (to init or a subreaper): its parent id changes.
    while os.getppid() == parent:
        threading.Event().wait(ORPHAN_CHECK_S)
    log.warning("training process %d: worker %d is gone, exiting", os.getpid(), parent)
    os._exit(1)  # no clean-up to wait for: the fit's result has nobody to go to


def _die_with_parent(parent: int) -> bool:
    if os.getppid() != parent:  # the worker died while this process started
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="orphan-watch", daemon=True).start()
    return True


def enter_background(settings: Background, parent: int) -> Applied:
    """Make the calling process a background training process (a pool's initializer)."""
    blas = _bound_blas(settings.blas_threads)
    idle = all([_lower_priority(tid, settings.nice, settings.idle) for tid in _threads()])
    applied = Applied(nice=os.getpriority(os.PRIO_PROCESS, 0), idle=idle and settings.idle,
                      blas_threads=blas, dies_with_parent=_die_with_parent(parent))
    log.debug("training process %d: %s", os.getpid(), applied)
    return applied


def current_policy() -> tuple[int, bool]:
    """This process's niceness and whether it runs in SCHED_IDLE (for the tests)."""
    idle = hasattr(os, "SCHED_IDLE") and os.sched_getscheduler(0) == os.SCHED_IDLE
    return os.getpriority(os.PRIO_PROCESS, 0), idle
