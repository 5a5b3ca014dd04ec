"""`streamrec stack up | status | down` on ports and a home of this test's own."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from infra.kafka import broker_answers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _streamrec(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("streamrec")), *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture
def stack_env() -> Iterator[dict[str, str]]:
    # Directly under /tmp: the postgres user must be able to reach the data dir.
    home = Path(tempfile.mkdtemp(prefix="streamrec-stack-"))
    home.chmod(0o755)
    jar_cache = Path(".streamrec/cache").resolve()
    if jar_cache.exists():  # reuse fetched jars instead of downloading again
        (home / "cache").symlink_to(jar_cache)
    env = {
        **os.environ,
        "STREAMREC_HOME": str(home),
        "STREAMREC_KAFKA_BOOTSTRAP": f"127.0.0.1:{_free_port()}",
        "STREAMREC_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "STREAMREC_DATABASE_URL": f"postgresql://alice:pw@127.0.0.1:{_free_port()}/recs",
        "STREAMREC_KAFKA_HEAP": "256m",
    }
    yield env
    _streamrec(env, "stack", "down")
    shutil.rmtree(home, ignore_errors=True)


def _our_pids(env: dict[str, str]) -> set[int]:
    status = json.loads(_streamrec(env, "stack", "status", "--json").stdout)
    return {pid for pid in (status["kafka_pid"], status["postgres_pid"]) if pid}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


async def test_up_is_idempotent_status_reports_and_down_leaves_nothing(
    stack_env: dict[str, str],
) -> None:
    first = _streamrec(stack_env, "stack", "up")
    assert first.returncode == 0, first.stdout + first.stderr
    status = json.loads(_streamrec(stack_env, "stack", "status", "--json").stdout)
    assert status["kafka"] == "up" and status["postgres"] == "up"
    assert status["kafka_bootstrap"] == stack_env["STREAMREC_KAFKA_BOOTSTRAP"]
    assert status["database_url"] == stack_env["STREAMREC_DATABASE_URL"]
    pids = _our_pids(stack_env)
    assert len(pids) == 2

    second = _streamrec(stack_env, "stack", "up")
    assert second.returncode == 0
    assert second.stdout.count("already up") == 2
    assert _our_pids(stack_env) == pids, "a second `up` starts nothing new"

    # An independent client reaches both services at the printed addresses.
    assert await broker_answers(status["kafka_bootstrap"])
    with psycopg.connect(status["database_url"]) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("alice", "recs")

    down = _streamrec(stack_env, "stack", "down")
    assert down.returncode == 0
    assert not any(_alive(pid) for pid in pids)
    after = _streamrec(stack_env, "stack", "status", "--json")
    assert after.returncode == 1
    assert json.loads(after.stdout)["kafka"] == "down"


def test_taken_port_is_named_with_the_setting_that_changes_it(stack_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**stack_env, "STREAMREC_DATABASE_URL": f"postgresql://a:b@127.0.0.1:{port}/x"}
        result = _streamrec(env, "stack", "up")
    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert "STREAMREC_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_gives_one_line_and_no_traceback(stack_env: dict[str, str]) -> None:
    env = {**stack_env, "STREAMREC_DATABASE_URL": f"postgresql://a:b@127.0.0.1:{_free_port()}/x"}
    result = _streamrec(env, "db", "migrate")
    assert result.returncode == 1
    assert "cannot reach Postgres" in result.stderr and "a:***@" in result.stderr
    assert "streamrec stack up" in result.stderr
    assert "Traceback" not in result.stderr
