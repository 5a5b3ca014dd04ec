"""Non-personal lists: ``GET /api/movies/search``, ``/api/movies/{id}/similar``, ``/api/popular``,
``/api/latest``, ``/api/genres``.

A search matches titles by trigrams (migration 0012): words inside a title, or close to a
word of it (a typo), best match first (see :data:`infra.repositories.catalogue.SEARCH_SQL`).

Similar movies come from the active version's ranking model (its item side, written at
activation); popular movies by ratings count (then mean rating), refreshed from the
ratings at every retrain; latest movies by year, newest first (see :func:`latest`).
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.errors import ApiError
from api.params import genre_param, path_id, query_int, search_param, unknown_genre
from api.services import services_of
from infra.repositories import catalogue
from infra.repositories.serving import LIMIT_MAX

SIMILAR_DEFAULT = 10
POPULAR_DEFAULT = 20
SEARCH_DEFAULT = 20
SEARCH_OFFSET_MAX = 1000
OFFSET_MAX = 100_000


async def similar(request: Request) -> Response:
    movie_id = path_id(request, "movie_id")
    limit = query_int(request.query_params, "limit", low=1, high=LIMIT_MAX, default=SIMILAR_DEFAULT)
    found = await catalogue.similar_to(await services_of(request).pool(), movie_id, limit)
    if not found.known:
        raise ApiError(404, "unknown_movie", f"no movie with id {movie_id}")
    body = f'{{"movie_id":{movie_id},"model_version":{json.dumps(found.model_version)},'
    return Response(f'{body}"similar":{found.items_json}}}', media_type="application/json")


async def search(request: Request) -> Response:
    params = request.query_params
    words = search_param(params)
    limit = query_int(params, "limit", low=1, high=LIMIT_MAX, default=SEARCH_DEFAULT)
    offset = query_int(params, "offset", low=0, high=SEARCH_OFFSET_MAX, default=0)
    items = await catalogue.search(await services_of(request).pool(), words, limit, offset)
    return Response(f'{{"q":{json.dumps(words)},"limit":{limit},"offset":{offset},"movies":{items}}}',
                    media_type="application/json")


async def _chart(request: Request, which: catalogue.Chart) -> Response:
    """A page of a chart: ``limit``, ``offset`` and ``genre`` (400 when bad or unknown)."""
    params = request.query_params
    limit = query_int(params, "limit", low=1, high=LIMIT_MAX, default=POPULAR_DEFAULT)
    offset = query_int(params, "offset", low=0, high=OFFSET_MAX, default=0)
    genre = genre_param(params)
    page = await catalogue.chart(await services_of(request).pool(), which, limit, offset, genre)
    if genre is not None and not page.known_genre:
        raise unknown_genre(genre)
    return Response(f'{{"limit":{limit},"offset":{offset},"movies":{page.items_json}}}',
                    media_type="application/json")


async def popular(request: Request) -> Response:
    """Most rated first; ``score`` is the popularity."""
    return await _chart(request, catalogue.POPULAR)


async def latest(request: Request) -> Response:
    """Newest first. MovieLens records no time a movie was added, so "newest" is by year:
    the release year the title ends with ("Heat (1995)"), else the year streamrec stored
    the movie (``created_at``); within a year the movie stored last comes first, then by
    id. ``score`` is that year."""
    return await _chart(request, catalogue.LATEST)


async def genres(request: Request) -> Response:
    """Every genre of a stored movie (by name) and its number of movies."""
    items = await catalogue.genres(await services_of(request).pool())
    return Response(f'{{"genres":{items}}}', media_type="application/json")


routes = [
    Route("/api/movies/search", search, methods=["GET"]),
    Route("/api/movies/{movie_id}/similar", similar, methods=["GET"]),
    Route("/api/popular", popular, methods=["GET"]),
    Route("/api/latest", latest, methods=["GET"]),
    Route("/api/genres", genres, methods=["GET"]),
]
