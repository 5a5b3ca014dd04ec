"""The events on streamrec's topics, as Faust records.

Records are serialised as plain JSON without Faust's metadata (``include_metadata=
False``), so producers in any language can write and read them.
"""

from __future__ import annotations

from datetime import datetime

import faust


class RatingEvent(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """One rating on the ``ratings`` topic (key: the user id as a string)."""

    event_id: str  # a UUID; derived from topic/partition/offset when a producer omits it
    user_id: int
    movie_id: int
    rating: float  # 0.5 .. 5.0 in steps of 0.5
    rated_at: datetime


class RatingRemoved(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """A user takes back their rating of a movie: on the ``ratings`` topic too (key: the
    user id), as ``{"op": "remove", ...}``, so it is ordered with that user's ratings.
    Ratings and removals of a (user, movie) are ordered by ``rated_at``: the latest wins."""

    event_id: str  # a UUID; derived from topic/partition/offset when a producer omits it
    user_id: int
    movie_id: int
    rated_at: datetime  # when the rating was removed


class RetrainRequest(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """Asks the trainer for a new model (``retrain-requests``, one partition)."""

    reason: str  # "threshold" | "schedule" | "manual"
    new_ratings: int
    requested_at: datetime
    request_id: str = ""


class ModelPublished(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """A trained model and the trainer's decision about it (``model-events``)."""

    version: str
    rmse: float
    mae: float
    n_ratings: int
    activated: bool
    decision: str = ""
    request_ids: list[str] = []  # the retrain requests this model answers  # noqa: RUF012
    # True when an existing model is announced again to answer requests it already
    # covered (made before its export began); the fan-out ignores these.
    covered: bool = False


class PredictionJob(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """Score these users with this model version (``prediction-jobs``, key: first user)."""

    model_version: str
    user_ids: list[int]
    job_id: str = ""


class DeadLetter(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """A bad event on ``ratings-dlq``: the original bytes, why, and where it came from.

    Kafka keys and values are bytes and need not be text, so both travel base64-encoded.
    """

    reason: str  # a code from streams.validation.Reason
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    key_b64: str | None
    value_b64: str
    failed_at: datetime
    source_timestamp_ms: int | None = None
    # A letter must fit the dead-letter topic whatever came in: of a key or value too
    # large to keep, only a prefix travels, with the original's size and sha256.
    truncated: bool = False
    key_size: int | None = None
    value_size: int | None = None
    value_sha256: str | None = None


class HiddenEvent(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """"Not interested" on the ``hidden-items`` topic (key: the user id as a string):
    ``hidden`` true hides the movie from the user's suggestions, false undoes that. The
    latest ``at`` per (user, movie) wins."""

    event_id: str  # a UUID; derived from topic/partition/offset when a producer omits it
    user_id: int
    movie_id: int
    hidden: bool
    at: datetime


class ImpressionEvent(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """A list shown to a user, on the ``impressions`` topic (key: the user id as a string):
    the movies in the order shown, the version that made them (None: no model yet),
    how (``batch``/``realtime``, None for popular movies), the source (``model`` or
    ``popular``) and when it was served."""

    event_id: str
    user_id: int
    movie_ids: list[int]
    model_version: str | None
    made_by: str | None
    source: str
    served_at: datetime
