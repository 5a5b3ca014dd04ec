"""The page's fragments besides the suggestions: a title search, the user's own ratings and
a movie's similar movies (for htmx; the data of the JSON routes, rendered as HTML).

* ``/fragments/search?q=&user_id=``: the search box's matches (``hx-trigger`` on keyup),
  each with the rating buttons when a user is known; blank words answer nothing.
* ``/fragments/ratings?user_id=``: "Your ratings", newest first; the same buttons change
  a rating (a new rating of the movie: the latest wins), and "Remove" takes it back
  (``DELETE /api/ratings``). The section re-fetches itself on ``streamrec:refresh``, as
  the suggestions do.
* ``/fragments/movies/{id}/similar?user_id=``: what "More like this" opens.
"""

from __future__ import annotations

import json
from html import escape

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from api.errors import ApiError
from api.html import HANDLED, failure, movie_item, stars
from api.params import MAX_QUERY_CHARS, path_id, query_int, search_param, user_id_param
from api.routes import users
from api.services import services_of
from infra.repositories import catalogue

SEARCH_LIMIT = 10
SEARCH_LIMIT_MAX = 50
SIMILAR_LIMIT = 5
RATINGS_LIMIT = 20


def optional_user(params: QueryParams) -> int | None:
    return user_id_param(params) if params.get("user_id", "") != "" else None


def _genres(genres: list[str]) -> str:
    return f'<p class="genres">{escape(", ".join(genres))}</p>' if genres else ""


async def search(request: Request) -> HTMLResponse:
    params = request.query_params
    raw = params.get("q", "")
    try:
        user = optional_user(params)
        limit = query_int(params, "limit", low=1, high=SEARCH_LIMIT_MAX, default=SEARCH_LIMIT)
        if not raw.strip() and len(raw) <= MAX_QUERY_CHARS and len(params.getlist("q")) <= 1:
            return HTMLResponse("")  # the box was emptied
        words = search_param(params)
        found = json.loads(await catalogue.search(await services_of(request).pool(), words, limit, 0))
    except HANDLED as err:
        return failure(err)
    if not found:
        return HTMLResponse(f'<p class="none">No movie title matches “{escape(words)}”.</p>')
    hint = "" if user is not None else '<p class="hint">Enter your user id above to rate these.</p>'
    items = "".join(movie_item(user, m["id"], m["title"], details=_genres(m["genres"])) for m in found)
    return HTMLResponse(f'<section id="search-found" aria-label="Movies matching {escape(words)}">'
                        f'{hint}<ol class="movies">{items}</ol></section>')


def ratings_section(page: users.RatingsPage) -> str:
    user = page.user_id
    rated = json.loads(page.found.items_json)
    items = "".join(
        movie_item(user, r["id"], r["title"], current=r["rating"], remove=True,
                   details=f'<p class="given">You gave it {stars(r["rating"])} out of 5.</p>')
        for r in rated)
    if items:
        more = (f'<p class="hint">The latest {len(rated)} of your {page.found.total} ratings.</p>'
                if page.found.total > len(rated) else "")
        listing = f'<ol class="movies">{items}</ol>{more}'
    else:
        listing = "<p>You have not rated a movie yet: find one above, or rate a suggestion.</p>"
    return (f'<section id="your-ratings" data-user-id="{user}" '
            f'hx-get="/fragments/ratings?user_id={user}" hx-trigger="streamrec:refresh delay:1s" '
            f'hx-swap="outerHTML" aria-labelledby="your-ratings-title">'
            f'<h2 id="your-ratings-title">Your ratings</h2>{listing}</section>')


async def your_ratings(request: Request) -> HTMLResponse:
    try:
        user = user_id_param(request.query_params)
        page = await users.fetch(request, user, default_limit=RATINGS_LIMIT)
    except HANDLED as err:
        return failure(err)
    return HTMLResponse(ratings_section(page))


async def similar(request: Request) -> HTMLResponse:
    try:
        movie_id = path_id(request, "movie_id")
        user = optional_user(request.query_params)
        found = await catalogue.similar_to(await services_of(request).pool(), movie_id, SIMILAR_LIMIT)
    except HANDLED as err:
        return failure(err)
    if not found.known:
        return failure(ApiError(404, "unknown_movie", f"no movie with id {movie_id}"))
    movies = json.loads(found.items_json)
    if not movies:
        return HTMLResponse('<p class="none">Nothing similar is known yet.</p>')
    items = "".join(movie_item(user, m["id"], m["title"], similar=False) for m in movies)
    return HTMLResponse(f'<ol class="movies similar-movies">{items}</ol>')


routes = [
    Route("/fragments/search", search, methods=["GET"]),
    Route("/fragments/ratings", your_ratings, methods=["GET"]),
    Route("/fragments/movies/{movie_id}/similar", similar, methods=["GET"]),
]
