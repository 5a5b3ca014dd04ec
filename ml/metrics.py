"""Offline metrics, pure: held-out RMSE/MAE, and precision, recall, NDCG and coverage
of top-K lists against held-out ratings, with the popularity baseline.

A held-out rating of at least ``RELEVANT_RATING`` is a hit. Ranking metrics are
averaged over the users with at least one relevant held-out movie, with ``k`` as the
precision denominator; lists rank the movies present in the training part, minus each
user's training ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.scoring import F64, I64, SVDFactors, score_pairs
from ml.topk import RatedPairs, TopK, rank_top_k


@dataclass(frozen=True)
class HeldOut:
    """Accuracy on ratings the model did not see."""

    rmse: float
    mae: float
    n_test: int


# Pairs scored at a time: two (chunk x factors) float64 blocks, 13 MB at 100 factors.
_SCORE_CHUNK = 8192


def held_out_accuracy(factors: SVDFactors, test: pd.DataFrame) -> HeldOut:
    """RMSE and MAE of ``factors`` on ``test`` (Surprise's ``accuracy`` formulas)."""
    est = score_pairs(factors, test["user_id"].to_numpy(), test["movie_id"].to_numpy(),
                      chunk_size=_SCORE_CHUNK)
    err = est - test["rating"].to_numpy(dtype=np.float64)
    return HeldOut(
        rmse=float(np.sqrt(np.mean(err**2))), mae=float(np.mean(np.abs(err))), n_test=len(test)
    )


RELEVANT_RATING = 4.0


@dataclass(frozen=True)
class RankingMetrics:
    precision: float
    recall: float
    ndcg: float  # binary relevance, 1/log2(rank + 1) discount, ideal over min(k, relevant)
    coverage: float  # share of the candidate movies in at least one user's top k
    n_users: int  # users with at least one relevant held-out movie


def _ranks(user_ids: I64) -> I64:
    """0-based position of each row within its user's run (rows grouped by user)."""
    if len(user_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, user_ids[1:] != user_ids[:-1]])
    lengths = np.diff(np.r_[starts, len(user_ids)])
    return (np.arange(len(user_ids)) - np.repeat(starts, lengths)).astype(np.int64)


def ranking_metrics(
    top: TopK, test: pd.DataFrame, *, k: int, relevant_rating: float = RELEVANT_RATING,
    n_candidates: int | None = None,
) -> RankingMetrics:
    """Precision@k, recall@k, NDCG@k and coverage of ``top`` against the relevant
    held-out ratings (``n_candidates``: the size of the catalogue ranked, for coverage)."""
    relevant = test[test["rating"] >= relevant_rating]
    users = np.unique(relevant["user_id"].to_numpy(dtype=np.int64))
    in_top = _ranks(top.user_ids) < k
    shown = np.unique(top.movie_ids[in_top])
    coverage = len(shown) / n_candidates if n_candidates else 0.0
    if len(users) == 0:
        return RankingMetrics(precision=0.0, recall=0.0, ndcg=0.0, coverage=coverage, n_users=0)
    width = int(max(relevant["movie_id"].max(), top.movie_ids.max(initial=0))) + 1
    rel_codes = relevant["user_id"].to_numpy(np.int64) * width + relevant["movie_id"].to_numpy(
        np.int64
    )
    hit = np.isin(top.user_ids * width + top.movie_ids, rel_codes) & in_top
    slot = np.searchsorted(users, top.user_ids[hit])
    hits = np.bincount(slot, minlength=len(users))
    n_relevant = np.bincount(
        np.searchsorted(users, relevant["user_id"].to_numpy(np.int64)), minlength=len(users)
    )
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = np.bincount(slot, weights=discounts[_ranks(top.user_ids)[hit]], minlength=len(users))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return RankingMetrics(
        precision=float(np.mean(hits / k)),
        recall=float(np.mean(hits / n_relevant)),
        ndcg=float(np.mean(dcg / ideal)),
        coverage=coverage,
        n_users=len(users),
    )


def popularity_top_k(train: pd.DataFrame, user_ids: I64, *, k: int) -> TopK:
    """The popular-movies baseline: most-rated training movies the user has not rated."""
    movies, counts = np.unique(train["movie_id"].to_numpy(np.int64), return_counts=True)
    popularity = counts.astype(np.float64)

    def block(users: I64, _movies: I64) -> F64:
        # rank_top_k passes the candidates sorted, i.e. in ``movies`` order.
        return np.broadcast_to(popularity, (len(users), len(popularity))).copy()

    return rank_top_k(block, user_ids, movies, k=k, rated=RatedPairs.from_frame(train))
