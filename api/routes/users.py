"""``GET /api/users/{user_id}/ratings?limit=&offset=``: a user's own ratings, newest first.

What is stored: a rating just sent to ``POST /api/ratings`` appears once the pipeline
has stored it, and a changed rating (a later one of the same movie) replaces the older.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.params import path_id, query_int
from api.services import services_of
from infra.repositories import history
from infra.repositories.serving import LIMIT_MAX

RATINGS_DEFAULT = 50
RATINGS_OFFSET_MAX = 100_000


@dataclass(frozen=True, slots=True)
class RatingsPage:
    user_id: int
    limit: int
    offset: int
    found: history.History

    def to_json(self) -> str:
        return (f'{{"user_id":{self.user_id},"total":{self.found.total},"limit":{self.limit},'
                f'"offset":{self.offset},"ratings":{self.found.items_json}}}')


async def fetch(request: Request, user_id: int, *, default_limit: int = RATINGS_DEFAULT) -> RatingsPage:
    """Parse ``limit`` and ``offset`` (400 when bad) and read the user's ratings (JSON and page)."""
    params = request.query_params
    limit = query_int(params, "limit", low=1, high=LIMIT_MAX, default=default_limit)
    offset = query_int(params, "offset", low=0, high=RATINGS_OFFSET_MAX, default=0)
    return await read(request, user_id, limit, offset)


async def read(request: Request, user_id: int, limit: int, offset: int) -> RatingsPage:
    found = await history.ratings_of(await services_of(request).pool(), user_id, limit, offset)
    return RatingsPage(user_id, limit, offset, found)


async def user_ratings(request: Request) -> Response:
    page = await fetch(request, path_id(request, "user_id"))
    return Response(page.to_json(), media_type="application/json")


routes = [Route("/api/users/{user_id}/ratings", user_ratings, methods=["GET"])]
