"""Where the time goes: cProfile for in-process work, py-spy for a worker process.

Both give a short table (function, own time share, inclusive time share) that goes
into the results file and ``BENCHMARKS.md``.  py-spy is optional: without it on
``PATH`` (or next to the interpreter) the worker is simply not profiled.
"""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TOP = 12


def _short(filename: str, line: int, name: str) -> str:
    path = Path(filename)
    parts = path.parts
    for anchor in ("site-packages", "main", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor):]
            break
    where = "/".join(parts[-3:]) if parts else filename
    return f"{name} ({where}:{line})" if line else f"{name} ({where})"


@contextlib.contextmanager
def cprofiled(out: dict[str, Any], what: str) -> Iterator[None]:
    """Profile the block; ``out['profile']`` gets the top functions by own time."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        stats = pstats.Stats(prof)
        total = max(float(getattr(stats, "total_tt", 0.0)), 1e-9)
        entries: list[dict[str, Any]] = []
        raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        for (filename, line, name), (_cc, _nc, tt, ct, _callers) in raw.items():
            entries.append({"function": _short(filename, line, name), "self_share": tt / total,
                            "inclusive_share": ct / total})
        entries.sort(key=lambda e: e["self_share"], reverse=True)
        out["profile"] = {"tool": "cProfile", "what": what, "total_s": total, "top": entries[:TOP]}


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


class SpyRecorder:
    """``py-spy record`` of a process and its children, in collapsed-stack form."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.out = out
        exe = py_spy()
        self.proc: subprocess.Popen[bytes] | None = None
        if exe is not None:
            self.proc = subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
                 "--rate", str(rate), "--nonblocking", "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )

    def stop(self, what: str) -> dict[str, Any] | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return summarise_collapsed(self.out, what) if self.out.exists() else None


def summarise_collapsed(path: Path, what: str) -> dict[str, Any]:
    """Top frames of a collapsed-stack file (``frame;frame;... count`` per line)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    package: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[_frame(frames[-1])] += count
        package[_package(frames[-1])] += count
        for frame in {_frame(f) for f in frames}:
            inclusive[frame] += count
    top = [{"function": name, "self_share": n / max(total, 1),
            "inclusive_share": inclusive[name] / max(total, 1)} for name, n in own.most_common(TOP)]
    by_package = {name: n / max(total, 1) for name, n in package.most_common(10)}
    return {"tool": "py-spy", "what": what, "samples": total, "top": top, "by_package": by_package}


def _package(frame: str) -> str:
    """Where a frame's code lives: its top-level package (py-spy's short file names start
    with it, e.g. ``faust/streams.py``) or module."""
    _, _, location = frame.partition(" (")
    parts = Path(location.rstrip(")").rpartition(":")[0]).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    return parts[0].removesuffix(".py") if parts else "?"


def _frame(frame: str) -> str:
    # py-spy writes "function (path/to/file.py:line)"; one entry per function, not per line.
    name, _, location = frame.partition(" (")
    path = location.rstrip(")").rpartition(":")[0]
    return _short(path, 0, name) if path else name
