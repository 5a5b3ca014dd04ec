"""``/healthz`` (the process answers), ``/readyz`` (Postgres and Kafka answer), ``/metrics``.

``/readyz`` answers within its check timeout whatever the services do, and reuses the
app's connections: Postgres through the pool, Kafka by a metadata request over the
publisher's own connections, so a probe hammering it opens no socket per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.errors import DATABASE_DOWN, error_body
from api.models import Alive, Checks, ErrorDetail, Readiness, json_response
from api.services import Services, services_of
from infra.errors import ServiceUnavailable

CHECK_TIMEOUT_S = 2.0


async def _within_timeout(check: Awaitable[str | None], service: str) -> str | None:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"{service} did not answer within {CHECK_TIMEOUT_S:g} s"


async def healthz(request: Request) -> JSONResponse:
    return json_response(Alive())


async def _postgres(services: Services) -> str | None:
    """None when Postgres answers ``SELECT 1``, else why not."""
    try:
        pool = await services.pool()
        await pool.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_S)
    except ServiceUnavailable as err:
        return err.message
    except DATABASE_DOWN as err:
        return f"Postgres did not answer: {type(err).__name__}"
    return None


async def _kafka(services: Services) -> str | None:
    """None when Kafka answers a metadata request on the publisher's connections."""
    try:
        await (await services.publisher()).check()
    except ServiceUnavailable as err:
        return err.message
    return None


async def readyz(request: Request) -> JSONResponse:
    services = services_of(request)
    postgres, kafka = await asyncio.gather(_within_timeout(_postgres(services), "Postgres"),
                                           _within_timeout(_kafka(services), "Kafka"))
    problems = {name: why for name, why in (("postgres", postgres), ("kafka", kafka)) if why}
    checks = Checks(postgres="down" if postgres else "up", kafka="down" if kafka else "up")
    if not problems:
        return json_response(Readiness(status="ready", checks=checks), exclude_none=True)
    error = error_body(
        "not_ready", f"not ready: {' and '.join(problems)} {'is' if len(problems) == 1 else 'are'} down",
        hint="check `streamrec stack status`", services=problems,
    )["error"]
    return json_response(Readiness(status="unavailable", checks=checks, error=ErrorDetail(**error)), 503,
                         exclude_none=True)


async def metrics(request: Request) -> Response:
    registry = services_of(request).metrics
    return Response(registry.render(), media_type=registry.content_type)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
