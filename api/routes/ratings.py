"""``POST /api/ratings``: validate a rating and publish it as a ``RatingEvent`` (202);
``DELETE /api/ratings``: take one's rating back, a ``RatingRemoved`` (202).

Both go on the ratings topic keyed by the user, so a rating and its removal keep their
order. The pipeline persists them and checks that the movie exists (an unknown movie
goes to the dead-letter topic), so taking either needs Kafka only, not Postgres. A 202
means the event will be stored; a 503 that it will not be (:mod:`streams.publish_deadline`);
a retry with the same ``Idempotency-Key`` or ``event_id`` stores it once
(:mod:`api.idempotency`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api import idempotency
from api.models import RatingAccepted, RemovalAccepted, json_response
from api.params import PAIR_EXAMPLE, pair_input, rating_input, read_body
from api.services import services_of
from streams.publisher import new_rating, new_removal


async def post_rating(request: Request) -> JSONResponse:
    payload, form = await read_body(request)
    given = rating_input(payload, form=form)
    services = services_of(request)
    publisher = await services.publisher()
    event = new_rating(given.user_id, given.movie_id, given.rating, idempotency.event_id(
        request.headers, given.event_id, f"rating|{given.user_id}|{given.movie_id}|{given.rating:g}"))
    await publisher.publish_rating(event)
    services.metrics.ratings_accepted.inc()
    return json_response(RatingAccepted(event_id=event.event_id, user_id=event.user_id,
                                        movie_id=event.movie_id, rating=event.rating,
                                        rated_at=event.rated_at), 202)


async def delete_rating(request: Request) -> JSONResponse:
    payload, form = await read_body(request, PAIR_EXAMPLE, "invalid_removal")
    given = pair_input(payload, code="invalid_removal", what="removal", form=form)
    services = services_of(request)
    publisher = await services.publisher()
    event = new_removal(given.user_id, given.movie_id, idempotency.event_id(
        request.headers, given.event_id, f"removal|{given.user_id}|{given.movie_id}"))
    await publisher.publish_removal(event)
    services.metrics.removals_accepted.inc()
    return json_response(RemovalAccepted(event_id=event.event_id, user_id=event.user_id,
                                         movie_id=event.movie_id, rated_at=event.rated_at), 202)


async def ratings(request: Request) -> JSONResponse:
    """One route for both methods, so a wrong method's 405 lists both."""
    return await (post_rating(request) if request.method == "POST" else delete_rating(request))


routes = [Route("/api/ratings", ratings, methods=["POST", "DELETE"])]
