"""The page's HTML pieces shared by its fragments: rating buttons, "More like this", errors.

Every text from the database is escaped here; attributes carry ids only.
"""

from __future__ import annotations

import json
from html import escape

from starlette.responses import HTMLResponse

from api.errors import DATABASE_DOWN, ApiError, unavailable
from infra.errors import ServiceUnavailable

RATINGS = (1, 2, 3, 4, 5)
UNAVAILABLE: tuple[type[BaseException], ...] = (ServiceUnavailable, *DATABASE_DOWN)
# What a fragment answers as HTML (see failure()): a bad request, a service that is down.
HANDLED: tuple[type[BaseException], ...] = (ApiError, *UNAVAILABLE)


def stars(rating: float) -> str:
    """4.0 → "4", 3.5 → "3.5"."""
    return f"{rating:g}"


def _vals(user_id: int, movie_id: int, rating: int) -> str:
    return escape(json.dumps({"user_id": user_id, "movie_id": movie_id, "rating": rating}))


def rate_buttons(user_id: int, movie_id: int, title: str, *, current: float | None = None) -> str:
    """Five buttons that ``hx-post`` a rating (``static/page.js`` shows what became of it);
    with ``current``, they change the user's rating and the given one is pressed."""
    label = "Change your rating" if current is not None else "Rate"
    buttons = "".join(
        f'<button type="button" class="rate-button" data-rating="{r}" hx-post="/api/ratings" '
        f'hx-swap="none" hx-vals="{_vals(user_id, movie_id, r)}" '
        f'aria-pressed="{"true" if current == r else "false"}" '
        f'aria-label="Rate {title} {r} out of 5">{r}</button>'
        for r in RATINGS
    )
    return (f'<div class="rate" role="group" aria-label="{label}: {title}">'
            f'<span aria-hidden="true">{label}:</span>{buttons}</div>')


def more_like_this(movie_id: int, user_id: int | None) -> str:
    """A disclosure that fetches the movie's similar movies the first time it is opened."""
    query = f"?user_id={user_id}" if user_id is not None else ""
    return (f'<details class="more" hx-get="/fragments/movies/{movie_id}/similar{query}" '
            f'hx-trigger="toggle once" hx-target="find .similar" hx-swap="innerHTML">'
            f'<summary>More like this</summary><div class="similar" aria-live="polite">Loading…</div>'
            f'</details>')


def _pair_button(css: str, request: str, user_id: int, movie_id: int, label: str, text: str) -> str:
    """A button sending ``{"user_id", "movie_id"}`` (``request``: e.g. ``hx-post="/api/hidden"``);
    ``static/page.js`` shows what became of it."""
    vals = escape(json.dumps({"user_id": user_id, "movie_id": movie_id}))
    return (f'<button type="button" class="{css}" {request} hx-swap="none" '
            f'hx-vals="{vals}" aria-label="{label}">{text}</button>')


def hide_button(user_id: int, movie_id: int, title: str) -> str:
    """"Not interested": ``hx-post``s the hide."""
    return _pair_button("hide-button", 'hx-post="/api/hidden"', user_id, movie_id,
                        f"Not interested in {title}", "Not interested")


def remove_button(user_id: int, movie_id: int, title: str) -> str:
    """"Remove" under one of the user's ratings: ``hx-delete``s it (a body, not a query:
    see the page's ``htmx-config``)."""
    return _pair_button("remove-button", 'hx-delete="/api/ratings"', user_id, movie_id,
                        f"Remove your rating of {title}", "Remove")


def movie_item(user_id: int | None, movie_id: int, title: str, *, details: str = "",
               current: float | None = None, similar: bool = True, anchor: str = "",
               hide: bool = False, remove: bool = False) -> str:
    """One movie of a list: its title, ``details`` (already HTML), rating buttons when a
    user is known (and, with ``hide``, "Not interested"; with ``remove``, "Remove" the
    rating), a status line for what the buttons did and "More like this"; ``anchor`` is
    the item's id attribute, if any."""
    shown = escape(title)
    rate = rate_buttons(user_id, movie_id, shown, current=current) if user_id is not None else ""
    if hide and user_id is not None:
        rate += hide_button(user_id, movie_id, shown)
    if remove and user_id is not None:
        rate += remove_button(user_id, movie_id, shown)
    rated = f' data-rating="{stars(current)}"' if current is not None else ""
    more = more_like_this(movie_id, user_id) if similar else ""
    tag = f' id="{escape(anchor)}"' if anchor else ""
    return (f'<li{tag} data-movie-id="{movie_id}"{rated}><h3>{shown}</h3>{details}{rate}'
            f'<p class="status" role="status"></p>{more}</li>')


def error(status: int, message: str) -> HTMLResponse:
    return HTMLResponse(f'<p class="error" role="alert">{escape(message)}</p>', status_code=status)


def failure(err: BaseException) -> HTMLResponse:
    """The fragment's answer to a bad request or a service that is down (as the JSON routes')."""
    if isinstance(err, ApiError):
        return error(err.status, err.message)
    problem = unavailable(err)
    return error(problem.status, f"{problem.message}. Try again in a moment.")
