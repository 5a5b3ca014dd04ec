"""The API's request and response bodies as typed models.

They are the contract: :mod:`api.openapi` generates ``/openapi.json`` from them, and the
routes that build an answer as a dict build it from its model, so what is described and
what is sent cannot drift. Limits come from the modules that enforce them. The routes
keep their own strict parsers (:mod:`api.params`: ``"1"`` is refused for an integer, and
every bad field is named in one 422); the models describe the same rules. Answers that
Postgres renders as JSON text (suggestions, charts, search, a user's ratings) are
described here and spliced as rendered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from starlette.responses import JSONResponse

from schemas.ratings import MAX_ID, RATING_MAX, RATING_MIN

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
RatingValue = Annotated[float, Field(ge=RATING_MIN, le=RATING_MAX, multiple_of=0.5)]
# Sent as Python's isoformat ("+00:00"), as the events on Kafka carry it.
Time = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str),
                 WithJsonSchema({"type": "string", "format": "date-time"})]


class Model(BaseModel):
    """Closed objects: a field not listed is not sent (bodies: refused)."""

    model_config = ConfigDict(extra="forbid")


# Request bodies (JSON or form-encoded)

ClientEventId = Annotated[UUID | None, Field(
    description="The client's id for this write: a retry with the same id is stored once.")]


class Rating(Model):
    user_id: Id
    movie_id: Id
    rating: RatingValue
    event_id: ClientEventId = None


class UserMovie(Model):
    """The body of ``/api/hidden`` and of ``DELETE /api/ratings``."""

    user_id: Id
    movie_id: Id
    event_id: ClientEventId = None


class Login(BaseModel):
    token: str


# Responses

class ErrorDetail(BaseModel):
    """What went wrong; some errors add fields (``fields``, ``parameter``, ``known``, ``services``)."""

    model_config = ConfigDict(extra="allow")
    code: str
    message: str
    hint: str | None = None


class Error(Model):
    error: ErrorDetail


class Movie(Model):
    id: Id
    title: str
    overview: str
    score: float


class Suggestions(Model):
    user_id: Id
    model_version: str | None = Field(description="The model that made the list (the active model "
                                      "for popular lists); null when no model is active.")
    source: Literal["model", "popular"]
    made_by: Literal["batch", "realtime"] | None = Field(
        description="How a personal list was made: by the fan-out after a retrain (batch) or right "
                    "after the user's latest ratings (realtime); null for popular.")
    suggestions: list[Movie]


class Similar(Model):
    movie_id: Id
    model_version: str | None
    similar: list[Movie]


class Chart(Model):
    limit: int
    offset: int
    movies: list[Movie]


class FoundMovie(Movie):
    year: int
    genres: list[str]


class Found(Model):
    q: str
    limit: int
    offset: int
    movies: list[FoundMovie]


class RatedMovie(Model):
    id: Id
    title: str
    overview: str
    rating: RatingValue
    rated_at: Time


class UserRatings(Model):
    user_id: Id
    total: int = Field(ge=0)
    limit: int
    offset: int
    ratings: list[RatedMovie]


class Genre(Model):
    name: str
    movies: int = Field(ge=1)


class Genres(Model):
    genres: list[Genre]


class RatingAccepted(Model):
    event_id: UUID
    user_id: Id
    movie_id: Id
    rating: RatingValue
    rated_at: Time


class RemovalAccepted(Model):
    event_id: UUID
    user_id: Id
    movie_id: Id
    op: Literal["remove"] = "remove"
    rated_at: Time = Field(description="When the rating was removed: ratings and removals of a "
                           "movie are ordered by it, the latest wins.")


class HiddenAccepted(Model):
    event_id: UUID
    user_id: Id
    movie_id: Id
    hidden: bool
    at: Time


class ModelVersion(Model):
    version: str
    rmse: float
    mae: float
    n_ratings: int
    params: dict[str, Any]
    sha256: str
    created_at: Time
    is_active: bool
    activated_at: Time | None
    decision: str
    ndcg_at_10: float | None
    precision_at_10: float | None
    baseline_ndcg_at_10: float | None
    engine: str  # what fitted it: "local" (the worker's training processes) or "spark"


class Models(Model):
    active: str | None
    models: list[ModelVersion]


class ActiveModel(Model):
    model: ModelVersion


class RetrainRequested(Model):
    request_id: UUID
    reason: Literal["manual"]
    requested_at: Time


class Alive(Model):
    status: Literal["alive"] = "alive"


class Checks(Model):
    postgres: Literal["up", "down"]
    kafka: Literal["up", "down"]


class Readiness(Model):
    status: Literal["ready", "unavailable"]
    checks: Checks
    error: ErrorDetail | None = None


class Description(BaseModel):
    """``/openapi.json`` itself (its parts are OpenAPI's, not streamrec's)."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


def json_response(body: BaseModel, status_code: int = 200, *, exclude_none: bool = False) -> JSONResponse:
    """A route's answer made from its model (what ``/openapi.json`` describes)."""
    return JSONResponse(body.model_dump(mode="json", exclude_none=exclude_none), status_code=status_code)
