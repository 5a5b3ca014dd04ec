"""The app factory: routes, error handlers, metrics, and the lifespan owning the resources.

``create_app(settings)`` does no I/O; the lifespan opens the Postgres pool and the
Kafka publisher (either may be down: see :mod:`api.services`) and closes them.
``streamrec api`` runs :func:`app_from_env` on uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from api import dashboard, errors, openapi, page
from api.bodies import BodyBounds
from api.headers import SecurityHeaders
from api.metrics import Metrics, MetricsMiddleware
from api.routes import admin, health, hidden, movies, ratings, suggestions, users
from api.services import Services
from infra.settings import Settings, load_settings

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings) -> Starlette:
    """A new app with its own metrics registry, pool and publisher (opened by its lifespan)."""
    metrics = Metrics()
    services = Services(settings, metrics)
    description = openapi.build()

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(description)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services_of_app(app).open()
        try:
            yield
        finally:
            await services_of_app(app).close()

    app = Starlette(
        routes=[
            *suggestions.routes,
            *movies.routes,
            *ratings.routes,
            *users.routes,
            *hidden.routes,
            *admin.routes,
            *health.routes,
            *page.routes,
            *dashboard.routes,
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        # Metrics outermost, so the bodies' 408, 429 and 503 are counted too.
        middleware=[Middleware(SecurityHeaders), Middleware(MetricsMiddleware, metrics=metrics),
                    Middleware(BodyBounds, settings=settings)],
        exception_handlers=errors.handlers(),
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def services_of_app(app: Starlette) -> Services:
    services = app.state.services
    assert isinstance(services, Services)
    return services


def app_from_env() -> Starlette:
    """uvicorn's factory (``api.app:app_from_env``): settings from STREAMREC_* variables."""
    return create_app(load_settings())

