"""``/healthz`` (the process answers), ``/readyz`` (Postgres and Kafka answer), ``/metrics``."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.errors import DATABASE_DOWN, error_body
from api.services import Services, services_of
from infra.errors import ServiceUnavailable
from infra.kafka import broker_answers

CHECK_TIMEOUT_S = 2.0


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


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
    bootstrap = services.settings.kafka_bootstrap
    if await broker_answers(bootstrap, timeout_s=CHECK_TIMEOUT_S):
        return None
    return f"Kafka at {bootstrap} did not answer a metadata request"


async def readyz(request: Request) -> JSONResponse:
    services = services_of(request)
    postgres, kafka = await asyncio.gather(_postgres(services), _kafka(services))
    problems = {name: why for name, why in (("postgres", postgres), ("kafka", kafka)) if why}
    checks = {name: "down" if name in problems else "up" for name in ("postgres", "kafka")}
    if not problems:
        return JSONResponse({"status": "ready", "checks": checks})
    body = error_body(
        "not_ready", f"not ready: {' and '.join(problems)} {'is' if len(problems) == 1 else 'are'} down",
        hint="check `streamrec stack status`", services=problems,
    )
    return JSONResponse({"status": "unavailable", "checks": checks, **body}, status_code=503)


async def metrics(request: Request) -> Response:
    registry = services_of(request).metrics
    return Response(registry.render(), media_type=registry.content_type)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
