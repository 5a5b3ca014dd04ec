"""The API served by uvicorn on a free loopback port, in a thread (schemathesis, browser)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from api.app import create_app
from infra.settings import Settings


@contextmanager
def live_server(settings: Settings, timeout_s: float = 15.0) -> Iterator[str]:
    """Serve ``create_app(settings)`` until the block ends; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False,
                            ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="uvicorn-test")
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting; see the log above"
            assert time.monotonic() < deadline, f"uvicorn did not start within {timeout_s} s"
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()
