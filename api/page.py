"""``/``: a small HTMX page, and ``/suggestions``: the HTML fragment it loads.

Design: the JSON API stays JSON only. The page's form ``hx-get``s
``/suggestions?user_id=`` — the same query as ``/api/suggestions/``, rendered as an
HTML ``<section>`` — into the page. Each movie has five buttons that ``hx-post`` a
form-encoded rating to ``/api/ratings`` (``hx-swap="none"``: the JSON answer is not
shown). ``static/page.js`` then marks the movie as rated and fires
``streamrec:refresh`` on the section, whose ``hx-trigger`` re-fetches it a second later;
while a rated movie is still listed (the pipeline has not stored the rating yet) it
stays marked and the list is fetched again, with a growing delay. Once the rating row
exists the fragment no longer contains the movie (serve-time exclusion).

Errors of the fragment are HTML too (``role="alert"``), swapped in by htmx (see the
``htmx-config`` meta tag), with the same status codes as the JSON route.
"""

from __future__ import annotations

import json
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from api.errors import DATABASE_DOWN, ApiError, unavailable
from api.routes.suggestions import fetch
from infra.errors import ServiceUnavailable
from infra.repositories.serving import Served, Suggestion

PAGE_LIMIT = 20
UNAVAILABLE: tuple[type[BaseException], ...] = (ServiceUnavailable, *DATABASE_DOWN)
RATINGS = (1, 2, 3, 4, 5)
# Swap error fragments too (htmx 2 leaves 4xx/5xx out by default), marking them as errors.
HTMX_CONFIG = json.dumps({"responseHandling": [
    {"code": "204", "swap": False},
    {"code": "[23]..", "swap": True},
    {"code": "[45]..", "swap": True, "error": True},
]})

PAGE = f"""<!doctype html>
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
  <p>Movie suggestions from a model retrained as ratings stream in.</p>
</header>
<main>
  <form id="lookup" hx-get="/suggestions" hx-target="#results" hx-swap="innerHTML"
        hx-indicator="#loading">
    <label for="user-id">User id</label>
    <input id="user-id" name="user_id" type="number" inputmode="numeric"
           min="1" max="2147483647" required autocomplete="off">
    <input type="hidden" name="limit" value="{PAGE_LIMIT}">
    <button type="submit">Show suggestions</button>
    <span id="loading" class="htmx-indicator" role="status">Loading…</span>
  </form>
  <div id="results" aria-live="polite"></div>
</main>
<footer><p><a href="/openapi.json">API description (OpenAPI)</a></p></footer>
</body>
</html>
"""


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


def _vals(user_id: int, movie_id: int, rating: int) -> str:
    return escape(json.dumps({"user_id": user_id, "movie_id": movie_id, "rating": rating}))


def _movie(user_id: int, movie: Suggestion) -> str:
    title = escape(movie.title)
    buttons = "".join(
        f'<button type="button" class="rate-button" data-rating="{r}" hx-post="/api/ratings" '
        f'hx-swap="none" hx-vals="{_vals(user_id, movie.id, r)}" '
        f'aria-label="Rate {title} {r} out of 5">{r}</button>'
        for r in RATINGS
    )
    overview = f'<p class="overview">{escape(movie.overview)}</p>' if movie.overview else ""
    return (
        f'<li id="movie-{movie.id}" data-movie-id="{movie.id}">'
        f'<h3>{title}</h3>{overview}'
        f'<div class="rate" role="group" aria-label="Rate {title}"><span aria-hidden="true">Rate:</span>'
        f'{buttons}</div><p class="status" role="status"></p></li>'
    )


def fragment(served: Served, limit: int) -> str:
    user = served.user_id
    if served.source == "model" and served.made_by == "realtime":
        origin = "Picked for you from your latest ratings."
    elif served.source == "model":
        origin = "Picked for you from everyone's ratings so far."
    else:
        origin = "No personal suggestions yet: these are popular movies you have not rated."
    items = "".join(_movie(user, movie) for movie in served.suggestions)
    listing = f'<ol class="movies">{items}</ol>' if items else "<p>Nothing to suggest right now.</p>"
    return (
        f'<section id="suggestions" data-user-id="{user}" data-source="{served.source}" '
        f'data-made-by="{served.made_by or ""}" '
        f'hx-get="/suggestions?user_id={user}&amp;limit={limit}" hx-trigger="streamrec:refresh delay:1s" '
        f'hx-swap="outerHTML" aria-labelledby="suggestions-title">'
        f'<h2 id="suggestions-title">Suggestions for user {user}</h2>'
        f'<p class="source">{origin}</p>{listing}</section>'
    )


def _error(status: int, message: str) -> HTMLResponse:
    return HTMLResponse(f'<p class="error" role="alert">{escape(message)}</p>', status_code=status)


async def suggestions_fragment(request: Request) -> HTMLResponse:
    try:
        served = await fetch(request, default_limit=PAGE_LIMIT)
    except ApiError as err:
        return _error(err.status, err.message)
    except UNAVAILABLE as err:
        problem = unavailable(err)
        return _error(problem.status, f"{problem.message}. Try again in a moment.")
    limit = int(request.query_params.get("limit", PAGE_LIMIT))  # validated by fetch()
    return HTMLResponse(fragment(served, limit))


routes = [
    Route("/", page, methods=["GET"]),
    Route("/suggestions", suggestions_fragment, methods=["GET"]),
]
