"""``POST /api/hidden`` ("not interested") and ``DELETE /api/hidden`` (undo): validate the
user and movie and publish a ``HiddenEvent`` on ``hidden-items`` (202).

Like a rating, it needs Kafka only: the worker checks the movie (an unknown one is
dead-lettered), stores the latest event per (user, movie) and re-ranks the user. The
movie is left out of the user's suggestions from the moment the hide is stored.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api import idempotency
from api.models import HiddenAccepted, json_response
from api.params import PAIR_EXAMPLE, pair_input, read_body
from api.services import services_of
from streams.publisher import new_hidden


async def _publish(request: Request, hidden: bool) -> JSONResponse:
    payload, form = await read_body(request, PAIR_EXAMPLE, "invalid_hidden_item")
    given = pair_input(payload, code="invalid_hidden_item", what="hidden item", form=form)
    services = services_of(request)
    publisher = await services.publisher()
    action = "hide" if hidden else "unhide"
    event = new_hidden(given.user_id, given.movie_id, hidden, idempotency.event_id(
        request.headers, given.event_id, f"{action}|{given.user_id}|{given.movie_id}"))
    await publisher.publish_hidden(event)
    services.metrics.hidden_accepted.labels(action).inc()
    return json_response(HiddenAccepted(event_id=event.event_id, user_id=event.user_id,
                                        movie_id=event.movie_id, hidden=event.hidden, at=event.at), 202)


async def hidden(request: Request) -> JSONResponse:
    """POST hides, DELETE shows again (one route, so a wrong method's 405 lists both)."""
    return await _publish(request, request.method == "POST")


routes = [Route("/api/hidden", hidden, methods=["POST", "DELETE"])]
