"""The OpenAPI 3 description served at ``/openapi.json``, written by hand to match the routes.

Limits come from the modules that enforce them, so the two cannot drift apart;
tests/integration/api/test_openapi.py runs schemathesis against it.
"""

from __future__ import annotations

from typing import Any

from api.fragments import RATINGS_LIMIT, SEARCH_LIMIT, SEARCH_LIMIT_MAX
from api.page import PAGE_LIMIT
from api.params import MAX_BODY_BYTES, MAX_QUERY_CHARS
from api.routes.movies import OFFSET_MAX, POPULAR_DEFAULT, SEARCH_DEFAULT, SEARCH_OFFSET_MAX
from api.routes.suggestions import LIMIT_DEFAULT
from api.routes.users import RATINGS_DEFAULT, RATINGS_OFFSET_MAX
from infra.repositories.serving import LIMIT_MAX
from ml.genres import MAX_GENRE_CHARS
from schemas.ratings import MAX_ID, RATING_MAX, RATING_MIN

JSON = "application/json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = (), extra: bool = False) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": extra,
    }


def _json(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, _ref("Error"))


_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_NULLABLE_TEXT = {"type": "string", "nullable": True}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_USER_ID = {"name": "user_id", "in": "query", "required": True, "schema": _ID,
            "description": "The user whose suggestions to return."}
_UNAVAILABLE = _error("Postgres or Kafka cannot be reached right now; retry later.")
_ADMIN_ERRORS = {
    "401": _error("No `Authorization: Bearer` header."),
    "403": _error("Wrong token, or the admin routes are disabled (no STREAMREC_ADMIN_TOKEN)."),
    "503": _UNAVAILABLE,
}

_ERROR_DETAIL = _obj({"code": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": "string"}},
                     optional=("hint",), extra=True)

SCHEMAS: dict[str, Schema] = {
    "Error": _obj({"error": _ERROR_DETAIL}),
    "Suggestion": _obj({"id": _ID, "title": {"type": "string"}, "overview": {"type": "string"},
                        "score": {"type": "number"}}),
    "Suggestions": _obj({
        "user_id": _ID,
        "model_version": {**_NULLABLE_TEXT, "description": "The model that made the list (the "
                          "active model for popular lists); null when no model is active."},
        "source": {"type": "string", "enum": ["model", "popular"]},
        "made_by": {"type": "string", "enum": ["batch", "realtime", None], "nullable": True,
                    "description": "How a personal list was made: by the fan-out after a retrain "
                    "(batch) or right after the user's latest ratings (realtime); null for popular."},
        "suggestions": {"type": "array", "items": _ref("Suggestion")},
    }),
    "Similar": _obj({"movie_id": _ID, "model_version": _NULLABLE_TEXT,
                     "similar": {"type": "array", "items": _ref("Suggestion")}}),
    "Popular": _obj({"limit": {"type": "integer"}, "offset": {"type": "integer"},
                     "movies": {"type": "array", "items": _ref("Suggestion")}}),
    "Found": _obj({"q": {"type": "string"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
                   "movies": {"type": "array", "items": _obj({
                       "id": _ID, "title": {"type": "string"}, "overview": {"type": "string"},
                       "year": {"type": "integer"}, "genres": {"type": "array", "items": {"type": "string"}},
                       "score": {"type": "number"}})}}),
    "UserRatings": _obj({"user_id": _ID, "total": {"type": "integer", "minimum": 0},
                         "limit": {"type": "integer"}, "offset": {"type": "integer"},
                         "ratings": {"type": "array", "items": _obj({
                             "id": _ID, "title": {"type": "string"}, "overview": {"type": "string"},
                             "rating": {"type": "number", "minimum": RATING_MIN, "maximum": RATING_MAX},
                             "rated_at": {"type": "string", "format": "date-time"}})}}),
    "Genres": _obj({"genres": {"type": "array", "items": _obj({
        "name": {"type": "string"}, "movies": {"type": "integer", "minimum": 1}})}}),
    "Rating": _obj({"user_id": _ID, "movie_id": _ID,
                    "rating": {"type": "number", "minimum": RATING_MIN, "maximum": RATING_MAX,
                               "multipleOf": 0.5}}),
    "RatingAccepted": _obj({"event_id": {"type": "string", "format": "uuid"}, "user_id": _ID,
                            "movie_id": _ID, "rating": {"type": "number"},
                            "rated_at": {"type": "string", "format": "date-time"}}),
    "HiddenItem": _obj({"user_id": _ID, "movie_id": _ID}),
    "RatingRemoval": _obj({"user_id": _ID, "movie_id": _ID}),
    "RemovalAccepted": _obj({"event_id": {"type": "string", "format": "uuid"}, "user_id": _ID,
                             "movie_id": _ID, "op": {"type": "string", "enum": ["remove"]},
                             "rated_at": {"type": "string", "format": "date-time"}}),
    "HiddenAccepted": _obj({"event_id": {"type": "string", "format": "uuid"}, "user_id": _ID,
                            "movie_id": _ID, "hidden": {"type": "boolean"},
                            "at": {"type": "string", "format": "date-time"}}),
    "ModelVersion": _obj({
        "version": {"type": "string"}, "rmse": {"type": "number"}, "mae": {"type": "number"},
        "n_ratings": {"type": "integer"}, "params": {"type": "object"}, "sha256": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"}, "is_active": {"type": "boolean"},
        "activated_at": {"type": "string", "format": "date-time", "nullable": True},
        "decision": {"type": "string"},
        "ndcg_at_10": _NULLABLE_NUMBER, "precision_at_10": _NULLABLE_NUMBER,
        "baseline_ndcg_at_10": _NULLABLE_NUMBER,
    }),
    "Models": _obj({"active": _NULLABLE_TEXT, "models": {"type": "array", "items": _ref("ModelVersion")}}),
    "ActiveModel": _obj({"model": _ref("ModelVersion")}),
    "RetrainRequested": _obj({"request_id": {"type": "string", "format": "uuid"},
                              "reason": {"type": "string", "enum": ["manual"]},
                              "requested_at": {"type": "string", "format": "date-time"}}),
    "Readiness": _obj({
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "checks": _obj({name: {"type": "string", "enum": ["up", "down"]} for name in ("postgres", "kafka")}),
        "error": _ERROR_DETAIL,
    }, optional=("error",)),
}

_GENRE = {"name": "genre", "in": "query", "required": False,
          "schema": {"type": "string", "minLength": 1, "maxLength": MAX_GENRE_CHARS},
          "description": "Only movies of this genre (a name GET /api/genres lists; case-sensitive)."}
_PAGE_OFFSET = {"name": "offset", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 0, "maximum": LIMIT_MAX, "default": 0},
                "description": "Skip this many movies of the same list (the next page)."}

_SUGGESTIONS_GET = {
    "summary": "A user's suggestions, best first; popular unrated movies for a new user.",
    "description": "Never a movie the user has rated, even one rated after the last prediction. "
                   "With `genre`, only that genre's movies: of the personal list, or, when none is "
                   "left, of the popular unrated movies. `offset` pages through the same list.",
    "parameters": [
        _USER_ID,
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT}},
        _PAGE_OFFSET,
        _GENRE,
    ],
    "responses": {
        "200": _json("The suggestions.", _ref("Suggestions")),
        "400": _error("Missing or bad user_id, limit, offset or genre, or a genre no movie has."),
        "503": _UNAVAILABLE,
    },
}


def _hidden_operation(operation_id: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "operationId": operation_id, "summary": summary,
        "description": f"{description} Bodies are JSON or form-encoded, at most {MAX_BODY_BYTES} bytes.",
        "requestBody": {"required": True, "content": {
            JSON: {"schema": _ref("HiddenItem")},
            "application/x-www-form-urlencoded": {"schema": _ref("HiddenItem")},
        }},
        "responses": {
            "202": _json("Published; the pipeline will store it.", _ref("HiddenAccepted")),
            "400": _error("The body is not JSON or a form."),
            "413": _error("The body is too large."),
            "422": _error("A field is missing or invalid (`error.fields` names each)."),
            "503": _error("Kafka cannot be reached; retry later."),
        },
    }


_OFFSET = {"name": "offset", "in": "query", "required": False,
           "schema": {"type": "integer", "minimum": 0, "maximum": OFFSET_MAX, "default": 0}}


def _chart_get(summary: str, description: str) -> dict[str, Any]:
    return {
        "summary": summary, "description": description,
        "parameters": [
            {"name": "limit", "in": "query", "required": False, "schema": {
                "type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": POPULAR_DEFAULT}},
            _OFFSET, _GENRE],
        "responses": {"200": _json("A page of the chart.", _ref("Popular")),
                      "400": _error("A bad limit, offset or genre, or a genre no movie has."),
                      "503": _UNAVAILABLE},
    }


def _static(media_type: str, what: str) -> dict[str, Any]:
    return {"get": {"summary": what, "responses": {
        "200": {"description": what, "content": {media_type: {"schema": {"type": "string"}}}}}}}


def _admin(summary: str, ok: str, schema: Schema, more: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"summary": summary, "security": [{"adminToken": []}],
            "responses": {ok: _json(summary, schema), **(more or {}), **_ADMIN_ERRORS}}


def _html(summary: str, responses: dict[str, str], **operation: Any) -> dict[str, Any]:
    html = {"text/html": {"schema": {"type": "string"}}}
    return {"summary": summary, **operation, "responses": {  # a redirect has no body
        code: {"description": what} if code == "303" else {"description": what, "content": html}
        for code, what in responses.items()}}


_FRAGMENT_PARAMETERS = [
    _USER_ID, {"name": "limit", "in": "query", "required": False, "schema": {
        "type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": PAGE_LIMIT}},
    _PAGE_OFFSET, _GENRE]

_DENIED = {"401": "No admin credentials (a page pointing to /admin/login).",
           "403": "A wrong bearer token, or the admin token is not set on this server."}
_SESSION: list[dict[str, list[str]]] = [{"adminToken": []}, {"adminSession": []}]
DASHBOARD: dict[str, Any] = {
    "/admin": {"get": _html("The operator dashboard (htmx).", {"200": "The page.", **_DENIED},
                            security=_SESSION)},
    "/admin/login": {
        "get": _html("The sign-in form: the admin token sets a session cookie.", {"200": "The form."}),
        "post": _html("Sign in: a session cookie for /admin, then a redirect to it.",
                      {"303": "Signed in.", "400": "An unreadable form.", "401": "Not the admin token.",
                       "403": "The admin token is not set on this server.", "413": "A form too large."},
                      requestBody={"required": True, "content": {
                          "application/x-www-form-urlencoded": {"schema": {
                              "type": "object", "required": ["token"],
                              "properties": {"token": {"type": "string"}}}}}}),
    },
    "/admin/logout": {"post": _html("Sign out: the session cookie is removed.", {"303": "Signed out."})},
    "/admin/fragments/user": {"get": _html(
        "The dashboard's panel of one user's list: as served, and how it was made.",
        {"200": "The panel.", "400": "A bad user_id.", **_DENIED, "503": "Postgres cannot be reached."},
        security=_SESSION, parameters=[_USER_ID])},
    "/admin/fragments/{name}": {"get": _html(
        "One panel of the dashboard, refreshed by the page every 15 s.",
        {"200": "The panel.", "404": "No such panel.", **_DENIED,
         "503": "Postgres or Kafka cannot be reached."},
        security=_SESSION,
        parameters=[{"name": "name", "in": "path", "required": True, "schema": {
                     "type": "string", "enum": ["activity", "lag", "models", "timeline"]}}])},
}


PATHS: dict[str, Any] = {
    "/api/suggestions/": {"get": {**_SUGGESTIONS_GET, "operationId": "suggestions"}},
    "/api/suggestions": {"get": {**_SUGGESTIONS_GET, "operationId": "suggestionsNoSlash"}},
    "/api/ratings": {"post": {
        "summary": "Publish a rating (a RatingEvent on the ratings topic).",
        "description": "The pipeline stores it and leaves the movie out of the user's suggestions. "
                       f"Bodies are JSON or form-encoded, at most {MAX_BODY_BYTES} bytes.",
        "requestBody": {"required": True, "content": {
            JSON: {"schema": _ref("Rating")},
            "application/x-www-form-urlencoded": {"schema": _ref("Rating")},
        }},
        "responses": {
            "202": _json("Published; the pipeline will store it.", _ref("RatingAccepted")),
            "400": _error("The body is not JSON or a form."),
            "413": _error("The body is too large."),
            "422": _error("A field is missing or invalid (`error.fields` names each)."),
            "503": _error("Kafka cannot be reached; retry later."),
        },
    }, "delete": {
        "summary": "Remove one's rating of a movie (a removal on the ratings topic).",
        "description": "Once the pipeline has stored it the rating is gone everywhere (the user's "
                       "ratings, training, popularity) and the movie may be suggested again; a "
                       "later rating adds it back. Bodies are JSON or form-encoded, at most "
                       f"{MAX_BODY_BYTES} bytes.",
        "requestBody": {"required": True, "content": {
            JSON: {"schema": _ref("RatingRemoval")},
            "application/x-www-form-urlencoded": {"schema": _ref("RatingRemoval")},
        }},
        "responses": {
            "202": _json("Published; the pipeline will store it.", _ref("RemovalAccepted")),
            "400": _error("The body is not JSON or a form."),
            "413": _error("The body is too large."),
            "422": _error("A field is missing or invalid (`error.fields` names each)."),
            "503": _error("Kafka cannot be reached; retry later."),
        },
    }},
    "/api/movies/search": {"get": {
        "summary": "Movies whose title matches some words, best match first.",
        "description": "Titles containing the words (those starting with them first), then titles "
                       "with a word close to them (a typo), then by popularity. `score` is the "
                       "popularity; `year` the release year in the title, else the year stored.",
        "parameters": [
            {"name": "q", "in": "query", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": r"\S"},
             "description": "Words of a title (spaces around them are ignored)."},
            {"name": "limit", "in": "query", "required": False, "schema": {
                "type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": SEARCH_DEFAULT}},
            {"name": "offset", "in": "query", "required": False, "schema": {
                "type": "integer", "minimum": 0, "maximum": SEARCH_OFFSET_MAX, "default": 0}}],
        "responses": {"200": _json("The matching movies (none is an empty list).", _ref("Found")),
                      "400": _error("A missing, blank or too long q, or a bad limit or offset."),
                      "503": _UNAVAILABLE},
    }},
    "/api/users/{user_id}/ratings": {"get": {
        "summary": "A user's own ratings, newest first, with the movies' titles.",
        "description": "The ratings the pipeline has stored: a rating sent a moment ago appears "
                       "once stored, and a changed rating replaces the older one (latest wins).",
        "parameters": [
            {"name": "user_id", "in": "path", "required": True, "schema": _ID},
            {"name": "limit", "in": "query", "required": False, "schema": {
                "type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": RATINGS_DEFAULT}},
            {"name": "offset", "in": "query", "required": False, "schema": {
                "type": "integer", "minimum": 0, "maximum": RATINGS_OFFSET_MAX, "default": 0}}],
        "responses": {"200": _json("A page of the ratings (`total` counts them all).", _ref("UserRatings")),
                      "400": _error("A bad user id, limit or offset."), "503": _UNAVAILABLE},
    }},
    "/api/hidden": {
        "post": _hidden_operation(
            "hideMovie", "Not interested: never suggest this movie to this user again.",
            "Publishes a HiddenEvent (hidden: true) on the hidden-items topic; once the pipeline "
            "has stored it the movie is left out of the user's suggestions and popular fallback, "
            "and the user's list is re-ranked. The latest request per (user, movie) wins."),
        "delete": _hidden_operation(
            "unhideMovie", "Undo a hide: the movie may be suggested to this user again.",
            "Publishes a HiddenEvent (hidden: false); the user's list is re-ranked, so the "
            "movie can come back."),
    },
    "/api/movies/{movie_id}/similar": {"get": {
        "summary": "The movies most similar to one movie, by the active version's ranking model.",
        "parameters": [{"name": "movie_id", "in": "path", "required": True, "schema": _ID},
                       {"name": "limit", "in": "query", "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": 10}}],
        "responses": {"200": _json("Most similar first (empty before a model is active).", _ref("Similar")),
                      "400": _error("A bad movie id or limit."), "404": _error("No such movie."),
                      "503": _UNAVAILABLE},
    }},
    "/api/popular": {"get": _chart_get(
        "The most popular movies (most ratings first), a page at a time.",
        "`score` is the movie's popularity (its number of ratings, plus a tenth of its mean rating).")},
    "/api/latest": {"get": _chart_get(
        "The newest movies first, a page at a time.",
        "MovieLens records no time a movie was added, so newest is by year: the release year the "
        "title ends with (\"Heat (1995)\"), else the year streamrec stored the movie; within a year "
        "the movie stored last first, then by id. `score` is that year.")},
    "/api/genres": {"get": {
        "summary": "Every genre of the stored movies, by name, with its number of movies.",
        "description": "Genres come from the imported MovieLens files (u.item's flags, movies.dat / "
                       "movies.csv's lists) or the synthetic data; a movie has none, one or several.",
        "responses": {"200": _json("The genres.", _ref("Genres")), "503": _UNAVAILABLE},
    }},
    "/healthz": {"get": {"summary": "The process is alive.", "responses": {
        "200": _json("Alive.", _obj({"status": {"type": "string", "enum": ["alive"]}}))}}},
    "/readyz": {"get": {"summary": "Postgres and Kafka answer.", "responses": {
        "200": _json("Both answer.", _ref("Readiness")),
        "503": _json("At least one does not (`checks` says which).", _ref("Readiness"))}}},
    "/metrics": {"get": {"summary": "Prometheus metrics.", "responses": {
        "200": {"description": "Text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {"summary": "This description.", "responses": {
        "200": _json("OpenAPI 3.", {"type": "object"})}}},
    "/api/admin/models": {"get": _admin("Model versions, newest first.", "200", _ref("Models"))},
    "/api/admin/models/{version}/activate": {"post": {
        **_admin("Activate a version; suggestions are recomputed.", "200", _ref("ActiveModel"),
                 {"404": _error("No such version (`error.known` lists them)."),
                  "409": _error("The version's artifact is missing or fails its sha256 check.")}),
        "parameters": [{"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}],
    }},
    "/api/admin/models/rollback": {"post": _admin(
        "Re-activate the previously active version.", "200", _ref("ActiveModel"),
        {"409": _error("No version was active before the current one, or its artifact fails "
                       "its sha256 check.")})},
    "/api/admin/retrain": {"post": _admin("Ask the trainer for a new model.", "202",
                                          _ref("RetrainRequested"))},
    "/": {"get": _html(
        "The page: search and rate movies, a user's suggestions and own ratings.",
        {"200": "The page.", "400": "The page, saying what is wrong with user_id."},
        description="`/?user_id=7` names the user, so the page can be bookmarked or shared: it "
                    "loads that user's suggestions and ratings as soon as it is shown.",
        parameters=[{**_USER_ID, "required": False, "description": "The user whose lists to show."}])},
    "/suggestions": {"get": _html(
        "The page's HTML fragment of a user's suggestions (for htmx), each with why when known.",
        {"200": "The fragment.", "400": "A bad parameter.", "503": "Postgres cannot be reached."},
        parameters=_FRAGMENT_PARAMETERS)},
    "/fragments/user": {"get": _html(
        "The page's fragment of a user's suggestions and own ratings; asked by the page's form "
        "(`HX-Trigger: lookup`), its `HX-Push-Url` header names the user in the address bar.",
        {"200": "The fragment.", "400": "A bad parameter.", "503": "Postgres cannot be reached."},
        parameters=_FRAGMENT_PARAMETERS)},
    "/fragments/ratings": {"get": _html(
        "The page's fragment of a user's own ratings, newest first, to change.",
        {"200": "The fragment.", "400": "A bad parameter.", "503": "Postgres cannot be reached."},
        parameters=[_USER_ID,
                    {"name": "limit", "in": "query", "required": False, "schema": {
                        "type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": RATINGS_LIMIT}},
                    {"name": "offset", "in": "query", "required": False, "schema": {
                        "type": "integer", "minimum": 0, "maximum": RATINGS_OFFSET_MAX, "default": 0}}])},
    "/fragments/search": {"get": _html(
        "The page's fragment of the movies matching the search box (empty for blank words).",
        {"200": "The fragment.", "400": "A bad parameter.", "503": "Postgres cannot be reached."},
        parameters=[
            {"name": "q", "in": "query", "required": False,
             "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS}},
            {**_USER_ID, "required": False, "description": "Who rates them (no buttons without)."},
            {"name": "limit", "in": "query", "required": False, "schema": {
                "type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT_MAX, "default": SEARCH_LIMIT}}])},
    "/fragments/movies/{movie_id}/similar": {"get": _html(
        "The page's fragment of a movie's similar movies (\"More like this\").",
        {"200": "The fragment.", "400": "A bad parameter.", "404": "No such movie.",
         "503": "Postgres cannot be reached."},
        parameters=[{"name": "movie_id", "in": "path", "required": True, "schema": _ID},
                    {**_USER_ID, "required": False, "description": "Who rates them (no buttons without)."}])},
    **DASHBOARD,
    "/static/htmx.min.js": _static("text/javascript", "htmx 2 (shipped with streamrec)."),
    "/static/page.js": _static("text/javascript", "The page's script."),
    "/static/page.css": _static("text/css", "The page's styles."),
}


def build() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "streamrec API", "version": "0.1.0",
                 "description": "Movie suggestions served from the table the streaming pipeline fills."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "STREAMREC_ADMIN_TOKEN"},
                "adminSession": {"type": "apiKey", "in": "cookie", "name": "streamrec_admin",
                                 "description": "Set by POST /admin/login (the dashboard only)."},
            },
        },
    }
