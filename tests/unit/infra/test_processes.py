import socket
import subprocess
import time
from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.stack import processes


def test_spawned_process_is_recorded_and_terminated(tmp_path: Path) -> None:
    log = tmp_path / "sleep.log"
    record = processes.spawn_detached(["sh", "-c", "echo started; exec sleep 60"], log)
    pid_file = tmp_path / "sleep.pid"
    processes.write_pid_file(pid_file, record)
    deadline = time.monotonic() + 5
    while "started" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "started" in log.read_text(), "the process writes to its log"
    assert processes.running_from_pid_file(pid_file) == record
    processes.terminate(record, timeout_s=5)
    assert not record.is_running()
    assert processes.running_from_pid_file(pid_file) is None
    assert not pid_file.exists(), "a stale PID file is cleared"


def test_a_reused_pid_is_not_mistaken_for_our_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        real = processes.record_process(proc.pid)
        impostor = processes.ProcessRecord(proc.pid, real.start_ticks + 1)
        assert real.is_running()
        assert not impostor.is_running()
    finally:
        proc.kill()
        proc.wait()


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert processes.port_in_use("127.0.0.1", port)
    assert not processes.port_in_use("127.0.0.1", port)


def test_unwritable_data_dir_names_the_dir_and_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as caught:
        processes.ensure_writable_dir(blocker / "data", "STREAMREC_HOME")
    assert str(blocker / "data") in caught.value.message
    assert caught.value.hint is not None and "STREAMREC_HOME" in caught.value.hint


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)))
    assert processes.tail(log, 3) == "line 97\nline 98\nline 99"
    assert "no log" in processes.tail(tmp_path / "missing.log")
