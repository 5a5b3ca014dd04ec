"""The api benchmark's baseline: a bare Starlette app with one JSON route returning a
fixed payload (the real route's response for one user), served by uvicorn the same way.

``uvicorn --factory bench.bare_app:app_from_env``; the payload file is named by
``BENCH_PAYLOAD_FILE`` (a benchmark-only variable, read once in the factory).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_app(payload: dict[str, Any]) -> Starlette:
    async def suggestions(request: Request) -> JSONResponse:
        return JSONResponse(payload)

    return Starlette(routes=[Route("/api/suggestions/", suggestions, methods=["GET"])])


def app_from_env() -> Starlette:
    return create_app(json.loads(Path(os.environ["BENCH_PAYLOAD_FILE"]).read_text()))
