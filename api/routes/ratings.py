"""``POST /api/ratings``: validate a rating and publish it as a ``RatingEvent`` (202).

The pipeline persists it and checks that the movie exists (an unknown movie goes to the
dead-letter topic), so taking a rating needs Kafka only, not Postgres.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.params import rating_input, read_body
from api.services import services_of
from streams.publisher import new_rating


async def post_rating(request: Request) -> JSONResponse:
    payload, form = await read_body(request)
    given = rating_input(payload, form=form)
    services = services_of(request)
    publisher = await services.publisher()
    event = new_rating(given.user_id, given.movie_id, given.rating)
    await publisher.publish_rating(event)
    services.metrics.ratings_accepted.inc()
    return JSONResponse(
        {
            "event_id": event.event_id,
            "user_id": event.user_id,
            "movie_id": event.movie_id,
            "rating": event.rating,
            "rated_at": event.rated_at.isoformat(),
        },
        status_code=202,
    )


routes = [Route("/api/ratings", post_rating, methods=["POST"])]
