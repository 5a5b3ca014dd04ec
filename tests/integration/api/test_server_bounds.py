"""`streamrec api` under uvicorn, from raw sockets: a client slow to send its headers or
its body is cut off, connections beyond the cap are refused, bodies still arriving are
capped per client, and a client that hangs up is counted as 499, not as a 500."""

from __future__ import annotations

import contextlib
import json
import os
import re
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
BODY_TIMEOUT_S = 1.5
BODIES_PER_CLIENT = 3
CONNECTIONS_PER_CLIENT = 6
SLOW_POST = (b"POST /api/ratings HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100\r\n\r\n{")
SLOW_CHUNKED = (b"POST /api/hidden HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n")


@contextlib.contextmanager
def _api(settings: Settings, database_url: str, tmp_path: Path, **env: str) -> Iterator[int]:
    """`streamrec api` with ``env`` on a free port, until the block ends; yields the port."""
    port = closed_port()
    env = {**os.environ, "STREAMREC_DATABASE_URL": database_url,
           "STREAMREC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, **env}
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


@pytest.fixture
def api_process(settings: Settings, database_url: str, tmp_path: Path) -> Iterator[int]:
    with _api(settings, database_url, tmp_path, STREAMREC_API_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
              STREAMREC_API_MAX_CONCURRENCY=str(MAX_CONNECTIONS)) as port:
        yield port


@pytest.fixture
def body_bounded_api(settings: Settings, database_url: str, tmp_path: Path) -> Iterator[int]:
    with _api(settings, database_url, tmp_path, STREAMREC_API_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
              STREAMREC_API_MAX_UNFINISHED_BODIES_PER_CLIENT=str(BODIES_PER_CLIENT),
              STREAMREC_API_MAX_CONNECTIONS_PER_CLIENT=str(CONNECTIONS_PER_CLIENT)) as port:
        yield port


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


def _answer(sock: socket.socket, within_s: float) -> tuple[int, dict[str, object], bytes]:
    """The status, JSON body and raw bytes the server sent before closing the connection."""
    sock.settimeout(within_s)
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            received += chunk
    return _answer_of(received)


@pytest.mark.parametrize("request_head", [SLOW_POST, SLOW_CHUNKED], ids=["length", "chunked"])
def test_a_body_sent_too_slowly_gets_408_and_the_connection_closed(
        body_bounded_api: int, request_head: bytes) -> None:
    with socket.create_connection(("127.0.0.1", body_bounded_api)) as slow:
        slow.sendall(request_head)  # then a byte a second, never finishing
        started = time.monotonic()
        slow.settimeout(0.05)
        answered = b""
        for _ in range(int(BODY_TIMEOUT_S) + 6):
            with contextlib.suppress(OSError):
                slow.sendall(b" " if request_head is SLOW_POST else b"1\r\n \r\n")
            with contextlib.suppress(TimeoutError):
                answered += slow.recv(4096)
            if answered:
                break
            time.sleep(1)
        took = time.monotonic() - started
        rest = _answer(slow, 3)[2]
    status, body, _ = _answer_of(answered + rest)
    assert status == 408 and body["error"]["code"] == "body_too_slow"  # type: ignore[index]
    assert BODY_TIMEOUT_S - 0.3 <= took <= BODY_TIMEOUT_S + 2.5


def _answer_of(received: bytes) -> tuple[int, dict[str, object], bytes]:
    """The status and JSON body of an HTTP answer's bytes (and the bytes)."""
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, json.loads(body) if body.startswith(b"{") else {}, received


def test_unfinished_bodies_are_capped_per_client_and_health_answers(body_bounded_api: int) -> None:
    slow = [socket.create_connection(("127.0.0.1", body_bounded_api)) for _ in range(BODIES_PER_CLIENT)]
    try:
        for sock in slow:
            sock.sendall(SLOW_POST)
        time.sleep(0.3)  # the server is reading them
        with socket.create_connection(("127.0.0.1", body_bounded_api)) as extra:
            extra.sendall(SLOW_POST)
            status, body, raw = _answer(extra, 2)
        assert status == 429 and body["error"]["code"] == "too_many_unfinished_bodies"  # type: ignore[index]
        assert b"retry-after: 1" in raw.lower()
        started = time.monotonic()
        assert httpx.get(f"http://127.0.0.1:{body_bounded_api}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 1
        # Over the cap, a request whose body is complete is still taken.
        whole = httpx.post(f"http://127.0.0.1:{body_bounded_api}/api/ratings", json={"user_id": 1})
        assert whole.status_code == 422
    finally:
        for sock in slow:
            sock.close()
    time.sleep(0.3)  # their slots are free again
    answer = httpx.post(f"http://127.0.0.1:{body_bounded_api}/api/ratings", json={"user_id": 1})
    assert answer.status_code == 422


def test_a_client_that_hangs_up_mid_body_is_counted_as_499_not_500(
        body_bounded_api: int, tmp_path: Path) -> None:
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", body_bounded_api)) as quitter:
            quitter.sendall(SLOW_POST)
            time.sleep(0.2)
    time.sleep(0.3)
    metrics = httpx.get(f"http://127.0.0.1:{body_bounded_api}/metrics", timeout=5).text
    counted = re.findall(r'streamrec_api_requests_total\{method="POST",route="/api/ratings",'
                         r'status="(\d+)"\} (\S+)', metrics)
    assert dict(counted) == {"499": "3.0"}
    assert 'status="500"' not in metrics
    assert "Traceback" not in (tmp_path / "api.log").read_text()


def test_connections_beyond_the_per_client_cap_are_closed_at_once(body_bounded_api: int) -> None:
    held = [socket.create_connection(("127.0.0.1", body_bounded_api)) for _ in range(CONNECTIONS_PER_CLIENT)]
    try:
        time.sleep(0.2)  # the server has accepted them
        with socket.create_connection(("127.0.0.1", body_bounded_api)) as extra:
            with contextlib.suppress(OSError):  # it may be closed already
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n")
            assert _answer(extra, 1)[2] == b""  # closed without an answer
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"http://127.0.0.1:{body_bounded_api}/healthz", timeout=5).status_code == 200
