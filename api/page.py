"""``/``: a small HTMX page, and the HTML fragments it loads.

Design: the JSON API stays JSON only. ``/?user_id=7`` names the user, so a list can be
bookmarked or shared: the page loads ``/fragments/user?user_id=7`` (the suggestions and
the user's own ratings) once it is shown, and the lookup form fetches the same fragment,
whose ``HX-Push-Url`` header puts ``/?user_id=…`` in the address bar. ``/suggestions``
is the suggestions alone — the same query as ``/api/suggestions/``, rendered as an HTML
``<section>`` — with "Because you rated …" under each movie that one of the user's
rated movies has among its similar movies (one query for the list). A search box,
"Your ratings" and "More like this" are :mod:`api.fragments`.

Each movie has five buttons that ``hx-post`` a form-encoded rating to ``/api/ratings``
(``hx-swap="none"``: the JSON answer is not shown). ``static/page.js`` then marks the
movie as rated and fires ``streamrec:refresh`` on the sections, whose ``hx-trigger``
re-fetches them a second later; while a rated movie is still suggested, or "Your
ratings" does not show the new rating yet (the pipeline has not stored it), it stays
marked and the sections are fetched again, with a growing delay. Once the rating row
exists the suggestions no longer contain the movie (serve-time exclusion). "Remove"
under one of "Your ratings" ``hx-delete``s it the same way, and the movie leaves that
list once the pipeline has stored the removal.

Errors of the fragments are HTML too (``role="alert"``), swapped in by htmx (see the
``htmx-config`` meta tag), with the same status codes as the JSON routes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from api import fragments
from api.errors import ApiError
from api.html import HANDLED, failure, movie_item
from api.params import user_id_param
from api.routes import users
from api.routes.suggestions import fetch
from api.services import services_of
from infra.repositories import catalogue
from infra.repositories.serving import Served

PAGE_LIMIT = 20
# Swap error fragments too (htmx 2 leaves 4xx/5xx out by default), marking them as errors;
# and send DELETE's values as a form body, as the API reads them (htmx 2 puts them in the URL).
HTMX_CONFIG = json.dumps({"responseHandling": [
    {"code": "204", "swap": False},
    {"code": "[23]..", "swap": True},
    {"code": "[45]..", "swap": True, "error": True},
], "methodsThatUseUrlParams": ["get"]})


def render_page(user_id: int | None = None, problem: str | None = None) -> str:
    """The page; with ``user_id`` its lists load as soon as it is shown."""
    value = f' value="{user_id}"' if user_id is not None else ""
    if user_id is not None:
        results = (f'<div id="results" aria-live="polite" hx-get="/fragments/user?user_id={user_id}" '
                   f'hx-trigger="load" hx-swap="innerHTML" hx-indicator="#loading"></div>')
    else:
        shown = f'<p class="error" role="alert">{escape(problem)}</p>' if problem else ""
        results = f'<div id="results" aria-live="polite">{shown}</div>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="{escape(HTMX_CONFIG)}">
<title>streamrec — movie suggestions</title>
<link rel="stylesheet" href="/static/page.css">
<script src="/static/htmx.min.js" defer></script>
<script src="/static/page.js" defer></script>
</head>
<body>
<header>
  <h1>streamrec</h1>
  <p>Movies picked for you from what you and everyone else rated. Rate a few to make them yours.</p>
</header>
<main>
  <form id="lookup" hx-get="/fragments/user" hx-target="#results" hx-swap="innerHTML"
        hx-push-url="true" hx-indicator="#loading">
    <label for="user-id">User id</label>
    <input id="user-id" name="user_id" type="number" inputmode="numeric"
           min="1" max="2147483647" required autocomplete="off"{value}>
    <button type="submit">Show suggestions</button>
    <span id="loading" class="htmx-indicator" role="status">Loading…</span>
  </form>
  <form id="search" role="search" hx-get="/fragments/search" hx-target="#search-results"
        hx-swap="innerHTML" hx-include="#user-id">
    <label for="search-words">Find a movie</label>
    <input id="search-words" name="q" type="search" maxlength="100" autocomplete="off"
           placeholder="Words of its title" hx-get="/fragments/search" hx-target="#search-results"
           hx-swap="innerHTML" hx-include="#user-id" hx-trigger="keyup changed delay:300ms, search">
  </form>
  <div id="search-results" aria-live="polite"></div>
  {results}
</main>
<footer><p>For developers: <a href="/openapi.json">the API's description</a>.</p></footer>
</body>
</html>
"""


PAGE = render_page()


async def page(request: Request) -> HTMLResponse:
    """``/`` or ``/?user_id=7``; a bad user id shows the page with the reason (400)."""
    if "user_id" not in request.query_params:
        return HTMLResponse(PAGE)
    try:
        user_id = user_id_param(request.query_params)
    except ApiError as err:
        return HTMLResponse(render_page(problem=err.message), status_code=err.status)
    return HTMLResponse(render_page(user_id))


def fragment(served: Served, limit: int, because: Mapping[int, str] | None = None) -> str:
    """The suggestions section; ``because``: a movie id → the title of a rated movie like it."""
    user = served.user_id
    because = because or {}
    if served.source == "model" and served.made_by == "realtime":
        origin = "Picked for you from your latest ratings."
    elif served.source == "model":
        origin = "Picked for you from everyone's ratings so far."
    else:
        origin = "No personal suggestions yet: these are popular movies you have not rated."
    items = "".join(
        movie_item(user, movie.id, movie.title, anchor=f"movie-{movie.id}", hide=True, details=(
            (f'<p class="because">Because you rated {escape(because[movie.id])}</p>'
             if movie.id in because else "")
            + (f'<p class="overview">{escape(movie.overview)}</p>' if movie.overview else "")))
        for movie in served.suggestions)
    listing = f'<ol class="movies">{items}</ol>' if items else "<p>Nothing to suggest right now.</p>"
    return (
        f'<section id="suggestions" data-user-id="{user}" data-source="{served.source}" '
        f'data-made-by="{served.made_by or ""}" '
        f'hx-get="/suggestions?user_id={user}&amp;limit={limit}" hx-trigger="streamrec:refresh delay:1s" '
        f'hx-swap="outerHTML" aria-labelledby="suggestions-title">'
        f'<h2 id="suggestions-title">Suggestions for user {user}</h2>'
        f'<p class="source">{origin}</p>{listing}</section>'
    )


async def _suggestions(request: Request) -> str:
    served = await fetch(request, default_limit=PAGE_LIMIT)
    shown = [movie.id for movie in served.suggestions]
    because = (await catalogue.because_rated(await services_of(request).pool(), served.user_id, shown)
               if served.source == "model" else {})
    limit = int(request.query_params.get("limit", PAGE_LIMIT))  # validated by fetch()
    return fragment(served, limit, because)


async def suggestions_fragment(request: Request) -> HTMLResponse:
    try:
        return HTMLResponse(await _suggestions(request))
    except HANDLED as err:
        return failure(err)


async def user_fragment(request: Request) -> HTMLResponse:
    """The suggestions and "Your ratings" of one user; asked by the lookup form (htmx names
    it in ``HX-Trigger``), the address bar becomes ``/?user_id=…``."""
    try:
        suggested = await _suggestions(request)
        user_id = user_id_param(request.query_params)
        rated = await users.read(request, user_id, fragments.RATINGS_LIMIT, 0)
    except HANDLED as err:
        return failure(err)
    headers = {"HX-Push-Url": f"/?user_id={user_id}"} if request.headers.get("hx-trigger") == "lookup" else {}
    return HTMLResponse(suggested + fragments.ratings_section(rated), headers=headers)


routes = [
    Route("/", page, methods=["GET"]),
    Route("/suggestions", suggestions_fragment, methods=["GET"]),
    Route("/fragments/user", user_fragment, methods=["GET"]),
    *fragments.routes,
]
