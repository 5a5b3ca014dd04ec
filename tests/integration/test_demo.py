"""`streamrec demo --exit-after`: the README's main job, end to end, on a database,
topics and API port of this test's own."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg

from infra.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_demo_runs_the_whole_pipeline_and_stops_what_it_started(
    settings: Settings, database_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "STREAMREC_DATABASE_URL": database_url,
        "STREAMREC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "STREAMREC_HOME": str(settings.home),
        "STREAMREC_TOPIC_PREFIX": settings.topic_prefix,
        "STREAMREC_APP_ID": f"demo-{settings.topic_prefix.rstrip('.')}",
        "STREAMREC_API_PORT": str(_free_port()),
        "STREAMREC_MODEL_DIR": str(tmp_path / "models"),
    }
    result = await asyncio.to_thread(
        subprocess.run, [str(Path(sys.executable).with_name("streamrec")), "demo", "--exit-after", "1"],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for step in range(1, 8):
        assert f"{step}. " in output
    assert "the worker stored them all" in output
    assert "held-out RMSE" in output and "user 1: top suggestions (model)" in output
    assert f"http://127.0.0.1:{env['STREAMREC_API_PORT']}/" in output
    assert "Traceback" not in output

    assert await pool.fetchval("SELECT count(*) FROM ratings") == 30_000
    active = await pool.fetchval("SELECT version_name FROM model_versions WHERE is_active")
    assert await pool.fetchval(
        "SELECT count(DISTINCT user_id) FROM suggestions WHERE model_version = $1", active
    ) == await pool.fetchval("SELECT count(DISTINCT user_id) FROM ratings")
    with socket.socket() as probe:  # the API it started is gone
        assert probe.connect_ex(("127.0.0.1", int(env["STREAMREC_API_PORT"]))) != 0
