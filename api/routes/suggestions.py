"""``GET /api/suggestions/?user_id=&limit=&offset=&genre=``: the user's suggestions as JSON (one query)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.params import genre_param, query_int, unknown_genre, user_id_param
from api.services import services_of
from infra.repositories import serving
from infra.repositories.serving import LIMIT_MAX, Served

LIMIT_DEFAULT = 50


async def fetch(request: Request, *, default_limit: int = LIMIT_DEFAULT) -> Served:
    """Parse ``user_id``, ``limit``, ``offset`` and ``genre`` (400 when bad, or for a genre no
    movie has) and read the suggestions (JSON and page)."""
    params = request.query_params
    user_id = user_id_param(params)
    limit = query_int(params, "limit", low=1, high=LIMIT_MAX, default=default_limit)
    offset = query_int(params, "offset", low=0, high=LIMIT_MAX, default=0)
    genre = genre_param(params)
    services = services_of(request)
    served = await serving.suggestions_for(await services.pool(), user_id, limit, offset, genre)
    if genre is not None and not served.known_genre:
        raise unknown_genre(genre)
    services.metrics.suggestions_served.labels(served.source).inc()
    services.impressions.record(served)
    return served


async def suggestions(request: Request) -> Response:
    return Response((await fetch(request)).to_json(), media_type="application/json")


# With and without the trailing slash: the seed's clients call `/api/suggestions/`.
routes = [
    Route("/api/suggestions/", suggestions, methods=["GET"]),
    Route("/api/suggestions", suggestions, methods=["GET"]),
]
