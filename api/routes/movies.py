"""Non-personal lists: ``GET /api/movies/{id}/similar``, ``GET /api/popular``, ``GET /api/genres``.

Similar movies come from the active version's ranking model (its item side, written at
activation); popular movies by ratings count (then mean rating), refreshed from the
ratings at every retrain.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.errors import ApiError
from api.params import path_id, query_int
from api.services import services_of
from infra.repositories import catalogue
from infra.repositories.serving import LIMIT_MAX

SIMILAR_DEFAULT = 10
POPULAR_DEFAULT = 20
OFFSET_MAX = 100_000


async def similar(request: Request) -> Response:
    movie_id = path_id(request, "movie_id")
    limit = query_int(request.query_params, "limit", low=1, high=LIMIT_MAX, default=SIMILAR_DEFAULT)
    found = await catalogue.similar_to(await services_of(request).pool(), movie_id, limit)
    if not found.known:
        raise ApiError(404, "unknown_movie", f"no movie with id {movie_id}")
    body = f'{{"movie_id":{movie_id},"model_version":{json.dumps(found.model_version)},'
    return Response(f'{body}"similar":{found.items_json}}}', media_type="application/json")


async def popular(request: Request) -> Response:
    params = request.query_params
    limit = query_int(params, "limit", low=1, high=LIMIT_MAX, default=POPULAR_DEFAULT)
    offset = query_int(params, "offset", low=0, high=OFFSET_MAX, default=0)
    items = await catalogue.popular(await services_of(request).pool(), limit, offset)
    return Response(f'{{"limit":{limit},"offset":{offset},"movies":{items}}}', media_type="application/json")


async def genres(request: Request) -> Response:
    """Every genre of a stored movie (by name) and its number of movies."""
    items = await catalogue.genres(await services_of(request).pool())
    return Response(f'{{"genres":{items}}}', media_type="application/json")


routes = [
    Route("/api/movies/{movie_id}/similar", similar, methods=["GET"]),
    Route("/api/popular", popular, methods=["GET"]),
    Route("/api/genres", genres, methods=["GET"]),
]
