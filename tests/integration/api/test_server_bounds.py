"""`streamrec api` under uvicorn: a client slow to send its headers is cut off, and
connections beyond the cap are refused, so slow sockets cannot exhaust the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from tests.integration.api.support import closed_port

STREAMREC = str(Path(sys.executable).with_name("streamrec"))
HEADER_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 4


@pytest.fixture
def api_process(settings: Settings, database_url: str, tmp_path: Path) -> Iterator[int]:
    port = closed_port()
    env = {**os.environ, "STREAMREC_DATABASE_URL": database_url,
           "STREAMREC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "STREAMREC_API_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
           "STREAMREC_API_MAX_CONCURRENCY": str(MAX_CONNECTIONS)}
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen([STREAMREC, "api", "--port", str(port), "--loglevel", "warning"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_client_slow_to_send_headers_is_cut_off(api_process: int) -> None:
    with socket.create_connection(("127.0.0.1", api_process)) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: api\r\n")  # never finishes the headers
        started = time.monotonic()
        assert _closed_by_server(slow, HEADER_TIMEOUT_S + 3)
        assert time.monotonic() - started >= HEADER_TIMEOUT_S - 0.2
    with socket.create_connection(("127.0.0.1", api_process)) as silent:
        assert _closed_by_server(silent, HEADER_TIMEOUT_S + 3)  # sends nothing at all
    assert httpx.get(f"http://127.0.0.1:{api_process}/healthz", timeout=5).status_code == 200


def test_connections_beyond_the_cap_are_refused_and_the_server_recovers(api_process: int) -> None:
    idle = [socket.create_connection(("127.0.0.1", api_process)) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)  # the server has accepted them
        with socket.create_connection(("127.0.0.1", api_process)) as extra:
            assert _closed_by_server(extra, 0.5)
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"http://127.0.0.1:{api_process}/healthz", timeout=5).status_code == 200
