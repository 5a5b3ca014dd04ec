"""Offline evaluation: held-out RMSE/MAE and precision/recall@K against popularity.

Both rankers see the same split: they rank the movies present in the training part,
minus each user's training ratings; a held-out rating of at least
``RELEVANT_RATING`` is a hit.  Precision is averaged over the users with at least
one relevant held-out movie, with ``k`` as denominator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.data import load_ratings
from ml.dataset import clean_ratings, rating_scale_of, split_ratings
from ml.scoring import F64, I64, from_surprise
from ml.topk import RatedPairs, TopK, rank_top_k, recommend
from ml.train import SVDParams, fit_svd, held_out_accuracy

RELEVANT_RATING = 4.0


@dataclass(frozen=True)
class RankingMetrics:
    precision: float
    recall: float
    n_users: int  # users with at least one relevant held-out movie


def ranking_metrics(
    top: TopK, test: pd.DataFrame, *, k: int, relevant_rating: float = RELEVANT_RATING
) -> RankingMetrics:
    """Precision@k and recall@k of ``top`` against the relevant held-out ratings."""
    relevant = test[test["rating"] >= relevant_rating]
    users = np.unique(relevant["user_id"].to_numpy(dtype=np.int64))
    if len(users) == 0:
        return RankingMetrics(precision=0.0, recall=0.0, n_users=0)
    width = int(max(relevant["movie_id"].max(), top.movie_ids.max(initial=0))) + 1
    rel_codes = relevant["user_id"].to_numpy(np.int64) * width + relevant["movie_id"].to_numpy(
        np.int64
    )
    hit = np.isin(top.user_ids * width + top.movie_ids, rel_codes)
    hits = np.bincount(np.searchsorted(users, top.user_ids[hit]), minlength=len(users))
    n_relevant = np.bincount(
        np.searchsorted(users, relevant["user_id"].to_numpy(np.int64)), minlength=len(users)
    )
    return RankingMetrics(
        precision=float(np.mean(hits / k)),
        recall=float(np.mean(hits / n_relevant)),
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


def evaluate_split(
    train: pd.DataFrame,
    test: pd.DataFrame,
    params: SVDParams,
    *,
    rating_scale: tuple[float, float],
    k: int = 10,
) -> dict[str, Any]:
    """Fit on ``train`` and measure on ``test``: accuracy, ranking, baselines."""
    algo, fit_seconds = fit_svd(train, params, rating_scale)
    factors = from_surprise(algo)
    held_out = held_out_accuracy(factors, test)
    test_users = np.unique(test["user_id"].to_numpy(np.int64))
    rated = RatedPairs.from_frame(train)
    model = ranking_metrics(recommend(factors, test_users, k=k, rated=rated), test, k=k)
    baseline = ranking_metrics(popularity_top_k(train, test_users, k=k), test, k=k)
    mean_err = test["rating"].to_numpy(np.float64) - float(train["rating"].mean())
    return {
        "rmse": held_out.rmse,
        "mae": held_out.mae,
        "baseline_rmse": float(np.sqrt(np.mean(mean_err**2))),  # global-mean predictor
        "n_ratings": len(train) + len(test),
        "n_test": held_out.n_test,
        "fit_seconds": fit_seconds,
        f"precision_at_{k}": model.precision,
        f"recall_at_{k}": model.recall,
        f"baseline_precision_at_{k}": baseline.precision,
        f"baseline_recall_at_{k}": baseline.recall,
        "n_ranked_users": model.n_users,
    }


def evaluate_frame(
    ratings: pd.DataFrame,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    params: SVDParams = SVDParams(),  # noqa: B008 - frozen
    k: int = 10,
) -> dict[str, Any]:
    """:func:`evaluate_split` on a ``seed``-ed split of ``ratings`` (SVD seeded by
    ``params.seed``)."""
    data = clean_ratings(ratings)
    train, test = split_ratings(data, test_size=test_size, seed=seed)
    return evaluate_split(train, test, params, rating_scale=rating_scale_of(data), k=k)


def evaluate_file(
    path: Path | str,
    format: str = "auto",
    test_size: float = 0.2,
    seed: int = 0,
    params: SVDParams = SVDParams(),  # noqa: B008 - frozen
    *,
    skip_bad: bool = False,
) -> dict[str, Any]:
    """Load a ratings file (see :func:`ml.data.load_ratings`) and evaluate it.

    Keys: rmse, mae, baseline_rmse, n_ratings, n_test, fit_seconds, precision_at_10,
    recall_at_10, baseline_precision_at_10, baseline_recall_at_10, n_ranked_users,
    skipped_lines, format.
    """
    loaded = load_ratings(path, format, skip_bad=skip_bad)
    result = evaluate_frame(loaded.frame, test_size=test_size, seed=seed, params=params)
    result["skipped_lines"] = len(loaded.skipped_lines)
    result["format"] = loaded.format
    return result
