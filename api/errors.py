"""Every error the API answers is JSON ``{"error": {"code", "message", ...}}``, never a trace.

Routes raise :class:`ApiError` for what a client did wrong; the handlers below turn
Starlette's own 404/405, streamrec's :class:`ServiceUnavailable` and a database that
went away into the same shape (503 for an unreachable service, never 500).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from infra.errors import ServiceUnavailable

# What asyncpg raises when Postgres is down, restarting or out of connections.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    OSError,
    TimeoutError,
)
DATABASE_HINT = "Postgres is not reachable; check `streamrec stack status` or STREAMREC_DATABASE_URL"


class ApiError(Exception):
    """An error answered as JSON with ``status``; ``extra`` adds fields to ``error``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.hint, self.headers, self.extra = hint, headers, extra

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, hint=self.hint,
                              headers=self.headers, **self.extra)


def error_body(code: str, message: str, *, hint: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    error.update(extra)
    return {"error": error}


def error_response(status: int, code: str, message: str, *, hint: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, hint=hint, **extra), status_code=status, headers=headers)


def unavailable(err: BaseException) -> ApiError:
    """The 503 for a service that cannot be reached."""
    if isinstance(err, ServiceUnavailable):
        return ApiError(503, "service_unavailable", err.message, hint=err.hint)
    return ApiError(503, "database_unavailable", f"the database is unavailable: {type(err).__name__}",
                    hint=DATABASE_HINT)


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"no route {request.url.path}; see /openapi.json for the API's routes"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))


async def _unavailable(request: Request, exc: Exception) -> Response:
    return unavailable(exc).response()


def handlers() -> dict[Any, ExceptionHandler]:
    """The app's exception handlers (anything else is a 500 from the metrics middleware)."""
    table: dict[Any, ExceptionHandler] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        ServiceUnavailable: _unavailable,
    }
    for kind in DATABASE_DOWN:
        table[kind] = _unavailable
    return table
