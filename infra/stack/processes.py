"""Process bookkeeping for the local stack: PID files, ports, log tails.

A PID file records the PID *and* the process start time, so ``stack down`` never
signals an unrelated process that happens to reuse a PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ConfigError


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_ticks: int

    def is_running(self) -> bool:
        ticks = process_start_ticks(self.pid)
        return ticks is not None and ticks == self.start_ticks


def process_start_ticks(pid: int) -> int | None:
    """Start time of a live (non-zombie) process in clock ticks, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    state, start_ticks = fields[0], int(fields[19])
    return None if state in ("Z", "X") else start_ticks


def record_process(pid: int) -> ProcessRecord:
    ticks = process_start_ticks(pid)
    if ticks is None:
        raise ProcessLookupError(pid)
    return ProcessRecord(pid, ticks)


def write_pid_file(path: Path, record: ProcessRecord) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": record.pid, "start_ticks": record.start_ticks}))
    tmp.replace(path)


def read_pid_file(path: Path) -> ProcessRecord | None:
    try:
        data = json.loads(path.read_text())
        return ProcessRecord(int(data["pid"]), int(data["start_ticks"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_from_pid_file(path: Path) -> ProcessRecord | None:
    """The recorded process if it is still the one we started; clears a stale file."""
    record = read_pid_file(path)
    if record is not None and record.is_running():
        return record
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return None


def terminate(record: ProcessRecord, timeout_s: float) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL: the process is gone on return."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        if not record.is_running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not record.is_running():
                return
            time.sleep(0.1)
    if record.is_running():
        raise ProcessLookupError(f"process {record.pid} survived SIGKILL")


def spawn_detached(argv: list[str], log: Path) -> ProcessRecord:
    """Start ``argv`` in a session of its own, not as our child, output appended to ``log``.

    A shell starts it in the background and exits at once, so the service outlives
    the CLI, is never left a zombie of ours, and is later stopped by its PID alone.
    """
    script = 'log="$1"; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!'
    result = subprocess.run(
        ["sh", "-c", script, "sh", str(log), *argv],
        capture_output=True, text=True, check=True, start_new_session=True,
    )
    return record_process(int(result.stdout.strip()))


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def ensure_writable_dir(path: Path, setting: str) -> Path:
    """Create ``path`` if needed and check that this process can write there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"data directory {path} is not writable: {err.strerror}",
            hint=f"fix its permissions or point {setting} at a writable directory",
        ) from err
    return path
