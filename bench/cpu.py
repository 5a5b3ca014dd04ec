"""Where a benchmark's CPU went: seconds of CPU by part of the stack, read from /proc.

A snapshot sums each live process's user + system time into a group (the worker's
process tree, the API's, this benchmark's own with its load generator, Postgres, Kafka,
everything else) and adds, for the group's root, the time of its children that have
exited and been reaped (a training process, a closed Postgres backend, the load
generator), so the difference of two snapshots is the group's CPU in between.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from bench.worker import descendants

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float, float] | None:
    """(command, parent, own seconds, reaped children's seconds) of a process."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        text = Path(f"/proc/{pid}/stat").read_text()
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        # fields[0] is the state (stat's field 3): utime, stime, cutime, cstime are 14-17.
        own = (int(fields[11]) + int(fields[12])) / TICK
        reaped = (int(fields[13]) + int(fields[14])) / TICK
        return comm, int(fields[1]), own, reaped
    return None


def snapshot(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far by group: each of ``roots`` (name → pid) with its descendants,
    ``bench`` (this process's tree, less the roots'), ``postgres``, ``kafka`` and ``other``."""
    group_of: dict[int, str] = {}
    for name, root in roots.items():
        for pid in descendants(root):
            group_of[pid] = name
    for pid in descendants(os.getpid()):
        group_of.setdefault(pid, "bench")
    totals = dict.fromkeys([*roots, "bench", "postgres", "kafka", "other"], 0.0)
    tree_roots = {*roots.values(), os.getpid()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None:
            continue
        comm, parent, own, reaped = stat
        group = group_of.get(pid) or ("postgres" if comm == "postgres" else "kafka" if comm == "java"
                                      else "other")
        postmaster = comm == "postgres" and (_stat(parent) or ("",))[0] != "postgres"
        totals[group] += own + (reaped if pid in tree_roots or postmaster else 0.0)
    return totals


def cores_between(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores each group used on average between two snapshots ``seconds`` apart."""
    return {group: round((after[group] - before.get(group, 0.0)) / seconds, 3) for group in after}
