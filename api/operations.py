"""Every operation of the API as one row: method, path, parameters (a model per route),
body model and answers by status. :mod:`api.openapi` turns the table into
``/openapi.json``; the bodies are :mod:`api.models`. Limits come from the modules that
enforce them, so nothing drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from api import idempotency
from api import models as m
from api.fragments import RATINGS_LIMIT, SEARCH_LIMIT, SEARCH_LIMIT_MAX
from api.page import PAGE_LIMIT
from api.params import MAX_BODY_BYTES, MAX_QUERY_CHARS
from api.routes.movies import OFFSET_MAX, POPULAR_DEFAULT, SEARCH_DEFAULT, SEARCH_OFFSET_MAX, SIMILAR_DEFAULT
from api.routes.suggestions import LIMIT_DEFAULT
from api.routes.users import RATINGS_DEFAULT, RATINGS_OFFSET_MAX
from infra.repositories.serving import LIMIT_MAX
from ml.genres import MAX_GENRE_CHARS

JSON, FORM, HTML = "application/json", "application/x-www-form-urlencoded", "text/html"

# Parameters: one model per route (a field without a default is required).

def _limit(default: int, high: int = LIMIT_MAX) -> Any:
    return Field(default, ge=1, le=high, description="How many to return.")


def _offset(high: int) -> Any:
    return Field(0, ge=0, le=high, description="Skip this many of the same list (the next page).")


_GENRE = Field(None, min_length=1, max_length=MAX_GENRE_CHARS,
               description="Only movies of this genre (a name GET /api/genres lists; case-sensitive).")


class UserQuery(m.Model):
    user_id: m.Id = Field(description="The user whose suggestions or ratings to return.")


class SuggestionsQuery(UserQuery):
    limit: int = _limit(LIMIT_DEFAULT)
    offset: int = _offset(LIMIT_MAX)
    genre: str | None = _GENRE


class PageQuery(SuggestionsQuery):
    limit: int = _limit(PAGE_LIMIT)


class ChartQuery(m.Model):
    limit: int = _limit(POPULAR_DEFAULT)
    offset: int = _offset(OFFSET_MAX)
    genre: str | None = _GENRE


class SearchQuery(m.Model):
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S",
                   description="Words of a title (spaces around them are ignored).")
    limit: int = _limit(SEARCH_DEFAULT)
    offset: int = _offset(SEARCH_OFFSET_MAX)


# The page's forms send an empty user_id when no user is entered yet: its fragments read
# that as no user (the page itself, /?user_id=, refuses it).
_NO_USER = Literal[""]


class SearchBoxQuery(m.Model):
    q: str | None = Field(None, max_length=MAX_QUERY_CHARS, description="The box's words (blank: none).")
    user_id: m.Id | _NO_USER | None = Field(None, description="Who rates them (no buttons without; "
                                                             "empty: no user).")
    limit: int = _limit(SEARCH_LIMIT, SEARCH_LIMIT_MAX)


class RatingsQuery(m.Model):
    limit: int = _limit(RATINGS_DEFAULT)
    offset: int = _offset(RATINGS_OFFSET_MAX)


class RatingsFragmentQuery(UserQuery):
    limit: int = _limit(RATINGS_LIMIT)
    offset: int = _offset(RATINGS_OFFSET_MAX)


class SimilarQuery(m.Model):
    limit: int = _limit(SIMILAR_DEFAULT)


class MaybeUserQuery(m.Model):
    user_id: m.Id | None = Field(None, description="The user whose lists to show (or who rates them).")


class FragmentUserQuery(m.Model):
    user_id: m.Id | _NO_USER | None = Field(None, description="Who rates them (empty: no user).")


class WriteHeaders(m.Model):
    idempotency_key: str | None = Field(
        None, alias="Idempotency-Key", min_length=1, max_length=idempotency.MAX_KEY_CHARS,
        pattern=idempotency.KEY_PATTERN,
        description="A key of the client's for this write: a retry with the same key (and the same "
                    "body) is stored once. Ignored when the body has an `event_id`.")


class UserPath(m.Model):
    user_id: m.Id


class MoviePath(m.Model):
    movie_id: m.Id


class VersionPath(m.Model):
    version: str


class PanelPath(m.Model):
    name: Literal["activity", "lag", "models", "online", "timeline"]


# Operations

@dataclass(frozen=True)
class Reply:
    """One answer: a JSON body of a model, a text body of a media type, or no body."""

    description: str
    body: type[BaseModel] | str | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    replies: dict[int, Reply]
    description: str = ""
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_types: tuple[str, ...] = (JSON, FORM)
    security: tuple[str, ...] = ()  # any one of these schemes
    operation_id: str = ""


def _error(description: str) -> Reply:
    return Reply(description, m.Error)


UNAVAILABLE = _error("Postgres or Kafka cannot be reached right now; retry later.")
KAFKA_AWAY = _error("Kafka did not take the event in time, so it will not be stored; retry later, "
                    "with an Idempotency-Key or event_id to be sure a retry is stored once.")
ADMIN = ("adminToken",)
SESSION = ("adminToken", "adminSession")
ADMIN_ERRORS = {401: _error("No `Authorization: Bearer` header."),
                403: _error("Wrong token, or the admin routes are disabled (no STREAMREC_ADMIN_TOKEN)."),
                429: _error("Too many wrong tokens from this address (see Retry-After)."),
                503: UNAVAILABLE}
DENIED = {401: Reply("No admin credentials (a page pointing to /admin/login).", HTML),
          403: Reply("A wrong bearer token, or the admin token is not set on this server.", HTML),
          429: Reply("Too many wrong tokens from this address (see Retry-After).", HTML)}
BODY_ERRORS = {400: _error("The body is not UTF-8 JSON or a form, or the Idempotency-Key is not valid."),
               408: _error("The body did not arrive in time (STREAMREC_API_BODY_TIMEOUT_S, _MIN_RATE)."),
               413: _error("The body is too large."), 415: _error("The body's charset is not UTF-8."),
               429: _error("Too many requests of this client's bodies are still arriving."),
               422: _error("A field is missing or invalid (`error.fields` names each)."), 503: KAFKA_AWAY}
BODIES = (f"Bodies are JSON or form-encoded, at most {MAX_BODY_BYTES} bytes. A 202 means the event "
          "will be stored, a 503 that it will not be; a retry with the same Idempotency-Key header or "
          "body `event_id` is stored once.")
PUBLISHED = "Published; the pipeline will store it (once per event id)."


def _fragment(path: str, summary: str, query: type[BaseModel] | None = None, *,
              path_params: type[BaseModel] | None = None, not_found: bool = False) -> Operation:
    replies = {200: Reply("The fragment.", HTML), 400: Reply("A bad parameter.", HTML),
               **({404: Reply("No such movie.", HTML)} if not_found else {}),
               503: Reply("Postgres cannot be reached.", HTML)}
    return Operation("get", path, summary, replies, query=query, path_params=path_params)


def _chart(path: str, summary: str, description: str) -> Operation:
    return Operation("get", path, summary, {
        200: Reply("A page of the chart.", m.Chart),
        400: _error("A bad limit, offset or genre, or a genre no movie has."), 503: UNAVAILABLE,
    }, description, query=ChartQuery)


def _suggestions(path: str, operation_id: str) -> Operation:
    summary = "A user's suggestions, best first; popular unrated movies for a new user."
    return Operation("get", path, summary, {
        200: Reply("The suggestions.", m.Suggestions),
        400: _error("Missing or bad user_id, limit, offset or genre, or a genre no movie has."),
        503: UNAVAILABLE,
    }, "Never a movie the user has rated, even one rated after the last prediction. With `genre`, "
       "only that genre's movies: of the personal list, or, when none is left, of the popular unrated "
       "movies. `offset` pages through the same list.", query=SuggestionsQuery, operation_id=operation_id)


def _admin(method: str, path: str, summary: str, ok: int, body: type[BaseModel],
           more: dict[int, Reply] | None = None, path_params: type[BaseModel] | None = None) -> Operation:
    return Operation(method, path, summary, {ok: Reply(summary, body), **(more or {}), **ADMIN_ERRORS},
                     security=ADMIN, path_params=path_params)


def _static(path: str, media_type: str, what: str) -> Operation:
    return Operation("get", path, what, {200: Reply(what, media_type)})


OPERATIONS: tuple[Operation, ...] = (
    _suggestions("/api/suggestions/", "suggestions"),
    _suggestions("/api/suggestions", "suggestionsNoSlash"),
    Operation("post", "/api/ratings", "Publish a rating (a RatingEvent on the ratings topic).", {
        202: Reply(PUBLISHED, m.RatingAccepted), **BODY_ERRORS,
    }, f"The pipeline stores it and leaves the movie out of the user's suggestions. {BODIES}",
        body=m.Rating, headers=WriteHeaders),
    Operation("delete", "/api/ratings", "Remove one's rating of a movie (a removal on the ratings topic).", {
        202: Reply(PUBLISHED, m.RemovalAccepted), **BODY_ERRORS,
    }, "Once the pipeline has stored it the rating is gone everywhere (the user's ratings, training, "
       f"popularity) and the movie may be suggested again; a later rating adds it back. {BODIES}",
        body=m.UserMovie, headers=WriteHeaders),
    Operation("post", "/api/hidden", "Not interested: never suggest this movie to this user again.", {
        202: Reply(PUBLISHED, m.HiddenAccepted), **BODY_ERRORS,
    }, "Publishes a HiddenEvent (hidden: true) on the hidden-items topic; once the pipeline has stored "
       "it the movie is left out of the user's suggestions and popular fallback, and the user's list is "
       f"re-ranked. The latest request per (user, movie) wins. {BODIES}", body=m.UserMovie,
        operation_id="hideMovie", headers=WriteHeaders),
    Operation("delete", "/api/hidden", "Undo a hide: the movie may be suggested to this user again.", {
        202: Reply(PUBLISHED, m.HiddenAccepted), **BODY_ERRORS,
    }, "Publishes a HiddenEvent (hidden: false); the user's list is re-ranked, so the movie can come "
       f"back. {BODIES}", body=m.UserMovie, operation_id="unhideMovie",
        headers=WriteHeaders),
    Operation("get", "/api/movies/search", "Movies whose title matches some words, best match first.", {
        200: Reply("The matching movies (none is an empty list).", m.Found),
        400: _error("A missing, blank or too long q, or a bad limit or offset."), 503: UNAVAILABLE,
    }, "Titles containing the words (those starting with them first), then titles with a word close "
       "to them (a typo), then by popularity. `score` is the popularity; `year` the release year in "
       "the title, else the year stored.", query=SearchQuery),
    Operation("get", "/api/users/{user_id}/ratings",
              "A user's own ratings, newest first, with the movies' titles.", {
        200: Reply("A page of the ratings (`total` counts them all).", m.UserRatings),
        400: _error("A bad user id, limit or offset."), 503: UNAVAILABLE,
    }, "The ratings the pipeline has stored: a rating sent a moment ago appears once stored, a changed "
       "rating replaces the older one (latest wins) and a removed one is gone.",
        query=RatingsQuery, path_params=UserPath),
    Operation("get", "/api/movies/{movie_id}/similar",
              "The movies most similar to one movie, by the active version's ranking model.", {
        200: Reply("Most similar first (empty before a model is active).", m.Similar),
        400: _error("A bad movie id or limit."), 404: _error("No such movie."), 503: UNAVAILABLE,
    }, query=SimilarQuery, path_params=MoviePath),
    _chart("/api/popular", "The most popular movies (most ratings first), a page at a time.",
           "`score` is the movie's popularity (its number of ratings, plus a tenth of its mean rating)."),
    _chart("/api/latest", "The newest movies first, a page at a time.",
           "MovieLens records no time a movie was added, so newest is by year: the release year the title "
           "ends with (\"Heat (1995)\"), else the year streamrec stored the movie; within a year the movie "
           "stored last first, then by id. `score` is that year."),
    Operation("get", "/api/genres", "Every genre of the stored movies, by name, with its number of movies.", {
        200: Reply("The genres.", m.Genres), 503: UNAVAILABLE,
    }, "Genres come from the imported MovieLens files (u.item's flags, movies.dat / movies.csv's lists) "
       "or the synthetic data; a movie has none, one or several."),
    Operation("get", "/healthz", "The process is alive.", {200: Reply("Alive.", m.Alive)}),
    Operation("get", "/readyz", "Postgres and Kafka answer.", {
        200: Reply("Both answer.", m.Readiness),
        503: Reply("At least one does not (`checks` says which).", m.Readiness)}),
    Operation("get", "/metrics", "Prometheus metrics.",
              {200: Reply("Text exposition format.", "text/plain")}),
    Operation("get", "/openapi.json", "This description.", {200: Reply("OpenAPI 3.1.", m.Description)}),
    _admin("get", "/api/admin/models", "Model versions, newest first.", 200, m.Models),
    _admin("post", "/api/admin/models/{version}/activate", "Activate a version; suggestions are recomputed.",
           200, m.ActiveModel, {404: _error("No such version (`error.known` lists them)."),
                                409: _error("The version's artifact is missing or fails its sha256 check.")},
           path_params=VersionPath),
    _admin("post", "/api/admin/models/rollback", "Re-activate the previously active version.", 200,
           m.ActiveModel, {409: _error("No version was active before the current one, or its artifact "
                                       "fails its sha256 check.")}),
    _admin("post", "/api/admin/retrain", "Ask the trainer for a new model.", 202, m.RetrainRequested),
    Operation("get", "/", "The page: search and rate movies, a user's suggestions and own ratings.", {
        200: Reply("The page.", HTML), 400: Reply("The page, saying what is wrong with user_id.", HTML),
    }, "`/?user_id=7` names the user, so the page can be bookmarked or shared: it loads that user's "
       "suggestions and ratings as soon as it is shown.", query=MaybeUserQuery),
    _fragment("/suggestions", "The page's HTML fragment of a user's suggestions (for htmx), each with why "
              "when known.", PageQuery),
    _fragment("/fragments/user", "The page's fragment of a user's suggestions and own ratings; asked by the "
              "page's form (`HX-Trigger: lookup`), its `HX-Push-Url` header names the user in the address "
              "bar.", PageQuery),
    _fragment("/fragments/ratings", "The page's fragment of a user's own ratings, newest first, to change "
              "or remove.", RatingsFragmentQuery),
    _fragment("/fragments/search", "The page's fragment of the movies matching the search box (empty for "
              "blank words).", SearchBoxQuery),
    _fragment("/fragments/movies/{movie_id}/similar", "The page's fragment of a movie's similar movies "
              "(\"More like this\").", FragmentUserQuery, path_params=MoviePath, not_found=True),
    Operation("get", "/admin", "The operator dashboard (htmx).", {200: Reply("The page.", HTML), **DENIED},
              security=SESSION),
    Operation("get", "/admin/login", "The sign-in form: the admin token sets a session cookie.",
              {200: Reply("The form.", HTML)}),
    Operation("post", "/admin/login", "Sign in: a session cookie for /admin, then a redirect to it.", {
        303: Reply("Signed in."), 400: Reply("An unreadable form.", HTML),
        401: Reply("Not the admin token.", HTML),
        403: Reply("The admin token is not set on this server.", HTML),
        408: Reply("The form did not arrive in time.", HTML), 413: Reply("A form too large.", HTML),
        415: Reply("A form whose charset is not UTF-8.", HTML),
        429: Reply("Too many wrong tokens from this address (see Retry-After).", HTML),
    }, body=m.Login, body_types=(FORM,)),
    Operation("post", "/admin/logout", "Sign out: the session cookie is removed.",
              {303: Reply("Signed out.")}),
    Operation("get", "/admin/fragments/user",
              "The dashboard's panel of one user's list: as served, and how it was made.", {
        200: Reply("The panel.", HTML), 400: Reply("A bad user_id.", HTML), **DENIED,
        503: Reply("Postgres cannot be reached.", HTML),
    }, query=UserQuery, security=SESSION),
    Operation("get", "/admin/fragments/{name}",
              "One panel of the dashboard, refreshed by the page every 15 s.", {
        200: Reply("The panel.", HTML), 404: Reply("No such panel.", HTML), **DENIED,
        503: Reply("Postgres or Kafka cannot be reached.", HTML),
    }, path_params=PanelPath, security=SESSION),
    _static("/static/htmx.min.js", "text/javascript", "htmx 2 (shipped with streamrec)."),
    _static("/static/page.js", "text/javascript", "The page's script."),
    _static("/static/page.css", "text/css", "The page's styles."),
)
