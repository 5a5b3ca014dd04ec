"""Prequential evaluation: replay the later ratings in time order and ask, for each, whether
the movie was in that user's top 10 at that moment.

The ranking model is fitted on the ratings before a global time cut (:func:`ml.dataset.time_cut`);
the ratings after it are replayed in time order. For each relevant one (rating at least
``RELEVANT_RATING``, of a movie the model knows) three lists of the user's top ``k``,
each without the movies the user has rated so far, are checked for the movie:

* with the speed layer: scored from the user's ratings so far, the training ones and the
  replayed ones before it (the model folds the history in, as the worker does);
* without it: scored from the training ratings only (the list of the last retrain);
* popularity so far: the movies most rated before that moment.

At most ``max_events`` relevant ratings are checked (a seeded sample): each needs its own
history, and the histories' pairs are what costs memory.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import pandas as pd

from ml.dataset import time_cut
from ml.metrics import RELEVANT_RATING
from ml.ranking import RankingModel, RankingParams, fit_ranking, rank
from ml.scoring import I64
from ml.topk import RatedPairs, TopK

Protocol = Literal["random", "temporal", "prequential"]
PROTOCOLS: tuple[Protocol, ...] = ("random", "temporal", "prequential")
MAX_EVENTS = 10_000


def prequential(ratings: pd.DataFrame, *, test_size: float, ranking: RankingParams, k: int = 10,
                seed: int = 0, max_events: int = MAX_EVENTS) -> dict[str, Any]:
    """Hit rates at ``k`` of the replay (see the module's text) on a cleaned frame."""
    train, later = time_cut(ratings, test_size=test_size)
    started = time.perf_counter()
    model = fit_ranking(train, ranking)
    fit_seconds = time.perf_counter() - started
    later = later.sort_values("rated_at", kind="stable").reset_index(drop=True)  # replay order
    users = later["user_id"].to_numpy(np.int64)
    movies = later["movie_id"].to_numpy(np.int64)
    columns = model.columns(movies)
    relevant = np.flatnonzero((later["rating"].to_numpy() >= RELEVANT_RATING) & (columns >= 0))
    rng = np.random.default_rng(seed)
    events = np.sort(rng.choice(relevant, size=min(max_events, len(relevant)), replace=False))

    past, replayed = _histories(train, users, movies, events)
    ids = np.arange(len(events), dtype=np.int64)
    with_speed = rank(model, ids, k=k, rated=_pairs(past, replayed))
    without = rank(model, ids, k=k, rated=_pairs(past), excluded=_pairs(replayed))
    popular = _popularity_so_far_hits(model, train, columns, events, past, replayed, k)
    n = max(len(events), 1)
    return {
        "n_train": len(train), "n_replayed": len(later), "n_relevant": len(relevant),
        "n_events": len(events), "k": k, "ranking_model": model.kind, "ranking_fit_seconds": fit_seconds,
        f"hit_rate_at_{k}": _hits(with_speed, movies[events]) / n,
        f"hit_rate_at_{k}_without_speed_layer": _hits(without, movies[events]) / n,
        f"baseline_hit_rate_at_{k}": popular / n,
    }


def _histories(train: pd.DataFrame, users: I64, movies: I64,
               events: I64) -> tuple[list[I64], list[I64]]:
    """Each event's user's training movies, and the movies they rated in the replay before it."""
    by_user = train.sort_values("user_id", kind="stable")
    train_users = by_user["user_id"].to_numpy(np.int64)
    train_movies = by_user["movie_id"].to_numpy(np.int64)
    order = np.argsort(users, kind="stable")  # each user's replayed rows, in time order
    sorted_users = users[order]
    past, replayed = [], []
    for event in events.tolist():
        user = users[event]
        past.append(train_movies[_block(train_users, user)])
        rows = order[_block(sorted_users, user)]
        replayed.append(movies[rows[: np.searchsorted(rows, event)]])
    return past, replayed


def _block(sorted_ids: I64, value: int) -> slice:
    """Where ``value`` runs in sorted ids."""
    first, last = np.searchsorted(sorted_ids, value, "left"), np.searchsorted(sorted_ids, value, "right")
    return slice(int(first), int(last))


def _pairs(*histories: list[I64]) -> RatedPairs:
    """Event ``i``'s movies of every given history as pairs of pseudo-user ``i``."""
    parts = [np.concatenate([h[i] for h in histories]) for i in range(len(histories[0]))]
    if not parts:
        return RatedPairs.of([], [])
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    return RatedPairs.of(np.repeat(np.arange(len(parts), dtype=np.int64), lengths), np.concatenate(parts))


def _hits(top: TopK, targets: I64) -> int:
    """How many pseudo-users' lists hold their target movie."""
    return int(np.sum(top.movie_ids == targets[top.user_ids]))


def _popularity_so_far_hits(model: RankingModel, train: pd.DataFrame, columns: I64, events: I64,
                            past: list[I64], replayed: list[I64], k: int) -> int:
    """Hits of the chart of the movies most rated before each event (ties: lower id first)."""
    n = len(model.movie_ids)
    counts = np.bincount(np.maximum(model.columns(train["movie_id"].to_numpy()), 0), minlength=n)
    counts = counts.astype(np.int64)
    tie_break = np.arange(n - 1, -1, -1, dtype=np.int64)
    hits, start = 0, 0
    for i, event in enumerate(events.tolist()):
        seen = columns[start:event]
        np.add.at(counts, seen[seen >= 0], 1)
        start = event
        key = counts * n + tie_break
        rated = model.columns(np.concatenate([past[i], replayed[i]]))
        key[rated[rated >= 0]] = -1
        top = np.argpartition(-key, min(k, n - 1))[:k]
        hits += int(columns[event] in top)
    return hits
