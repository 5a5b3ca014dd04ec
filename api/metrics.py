"""Prometheus metrics of one app instance, and the middleware that records every request.

Each app has its own :class:`CollectorRegistry`, so several apps in one process (tests)
never collide. Requests are labelled by route *template* (``/api/admin/models/{version}/
activate``), not by raw path, so the label set stays small; paths matching no route are
``<unmatched>``. The middleware is also the last line of defence: an unexpected
exception becomes a JSON 500 (logged here, never shown to the client).
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

log = logging.getLogger("streamrec.api")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The API's counters and histograms, in a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "streamrec_api_requests", "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "streamrec_api_request_duration_seconds", "Time to answer a request, by route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.errors = Counter(
            "streamrec_api_errors", "Responses with a 4xx or 5xx status, by route template and status.",
            ["route", "status"], registry=self.registry,
        )
        self.suggestions_served = Counter(
            "streamrec_api_suggestions_served", "Suggestion lists served, by source (model or popular).",
            ["source"], registry=self.registry,
        )
        self.ratings_accepted = Counter(
            "streamrec_api_ratings_accepted", "Ratings published to Kafka by POST /api/ratings.",
            registry=self.registry,
        )
        self.removals_accepted = Counter(
            "streamrec_api_rating_removals_accepted",
            "Rating removals published to Kafka by DELETE /api/ratings.", registry=self.registry,
        )
        self.hidden_accepted = Counter(
            "streamrec_api_hidden_accepted",
            "Hides (POST) and unhides (DELETE /api/hidden) published to Kafka, by action.",
            ["action"], registry=self.registry,
        )
        for action in ("hide", "unhide"):
            self.hidden_accepted.labels(action)
        self.impressions_logged = Counter(
            "streamrec_api_impressions_logged",
            "Suggestions responses published as impressions to Kafka.", registry=self.registry,
        )
        self.impressions_dropped = Counter(
            "streamrec_api_impressions_dropped",
            "Impressions dropped because their buffer was full (Kafka slow or away).",
            registry=self.registry,
        )
        for source in ("model", "popular"):
            self.suggestions_served.labels(source)

    def render(self) -> bytes:
        return generate_latest(self.registry)


CLIENT_CLOSED = 499  # the status label of a request whose client hung up before the answer


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times each HTTP request; unexpected errors → 500 JSON.
    A client that disconnects mid-request is counted as 499, not as an error of ours."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_and_record(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except ClientDisconnect:
            log.debug("the client of %s %s disconnected before the answer", scope["method"], scope["path"])
            status = CLIENT_CLOSED
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            status = 500
            if not response_started:
                response = error_response(500, "internal_error", "the server failed to answer this request",
                                          hint="this is a bug in streamrec; the server log has the details")
                await response(scope, receive, send)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
        label = template or "<unmatched>"
        method = scope["method"]
        self.metrics.requests.labels(method, label, str(status)).inc()
        self.metrics.latency.labels(method, label).observe(elapsed)
        if status >= 400 and status != CLIENT_CLOSED:  # no answer was sent, none was wrong
            self.metrics.errors.labels(label, str(status)).inc()
