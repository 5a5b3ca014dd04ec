"""Scoring users' lists on the worker's event loop, a slice of users at a time.

A slice is a few array operations (milliseconds); between slices ingest, the consumers
and the other writers run. Not in a thread: there every array operation that gives up
the GIL has to win it back from the loop's ingest, Kafka and Postgres work, which made
a traced worker's rounds several times slower, and a prediction job scoring in a thread
slowed the speed layer's rounds the same way during a retrain's fan-out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import numpy.typing as npt

from infra.repositories.ratings import RatedPairsRead
from ml.history_products import HistoryProducts
from ml.model_store import ModelBundle
from ml.serve import SuggestionRow, suggestion_rows
from ml.topk import RatedPairs

LOOP_SLICE_USERS = 100  # users scored between two turns of the event loop


async def rows_in_slices(bundle: ModelBundle, users: Sequence[int], *, k: int,
                         catalogue: npt.ArrayLike | None, rated: RatedPairsRead,
                         kept: HistoryProducts | None = None,
                         slice_users: int = LOOP_SLICE_USERS,
                         between: Callable[[], Awaitable[object]] | None = None) -> list[SuggestionRow]:
    """:func:`ml.serve.suggestion_rows` of ``users`` (sorted ascending), yielding to the
    event loop after every slice of ``slice_users`` (awaiting ``between`` there, if given:
    a prediction job lets the speed layer's waiting users go first)."""
    # Sorted by user once, so that each slice takes its users' pairs by two binary searches.
    rated_pairs = RatedPairs.of(rated.user_ids, rated.movie_ids).sorted_by_user()
    hidden = RatedPairs.of(rated.hidden_user_ids, rated.hidden_movie_ids).sorted_by_user()
    rows: list[SuggestionRow] = []
    for start in range(0, len(users), slice_users):
        part = users[start:start + slice_users]
        rows += suggestion_rows(bundle, part, k=k, catalogue=catalogue, kept=kept,
                                rated=rated_pairs.of_users_between(part[0], part[-1]),
                                hidden=hidden.of_users_between(part[0], part[-1]))
        await (asyncio.sleep(0) if between is None else between())
    return rows
