"""Offline evaluation: held-out accuracy and list quality of each model, on one split.

Every model sees the same split (:func:`ml.dataset.pair_split`, as the trainer's gate):
the lists rank the movies present in the training part, minus each user's training
ratings; a held-out rating of at least ``RELEVANT_RATING`` is a hit (:mod:`ml.metrics`).
The rows: popularity, biases only (``mu + b_u + b_i``), SVD ranked by predicted rating,
and the ranking model; the top-level figures are those of the list streamrec serves
(the ranking model's order) and of popularity (``baseline_*``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.data import load_ratings
from ml.dataset import clean_ratings, pair_split, rating_scale_of, time_split
from ml.gate import SplitScores, score_split
from ml.metrics import RELEVANT_RATING
from ml.prequential import Protocol, prequential
from ml.ranking import RankingParams, fit_ranking
from ml.scoring import SVDFactors, from_surprise
from ml.train import SVDParams, fit_svd


def biases_only(factors: SVDFactors) -> SVDFactors:
    """The SVD without its factors: ``mu + b_u + b_i``."""
    return dataclasses.replace(factors, pu=np.zeros_like(factors.pu), qi=np.zeros_like(factors.qi))


def evaluate_split(
    train: pd.DataFrame,
    test: pd.DataFrame,
    params: SVDParams,
    *,
    rating_scale: tuple[float, float],
    ranking: RankingParams = RankingParams(),  # noqa: B008 - frozen
    k: int = 10,
) -> dict[str, Any]:
    """Fit on ``train`` and measure on ``test``: accuracy, lists, baselines."""
    algo, fit_seconds = fit_svd(train, params, rating_scale)
    factors = from_surprise(algo)
    del algo
    started = time.perf_counter()
    ranker = fit_ranking(train, ranking)
    rank_fit_seconds = time.perf_counter() - started
    rows: dict[str, SplitScores] = {
        "popularity": score_split(None, None, train, test, k),
        "biases_only": score_split(biases_only(factors), None, train, test, k),
        "svd_by_predicted_rating": score_split(factors, None, train, test, k),
        f"ranking_model ({ranker.kind})": score_split(factors, ranker, train, test, k),
    }
    served, baseline = rows[f"ranking_model ({ranker.kind})"], rows["popularity"]
    mean_err = test["rating"].to_numpy(np.float64) - float(train["rating"].mean())
    assert served.rmse is not None and served.mae is not None
    return {
        "rmse": served.rmse,
        "mae": served.mae,
        "baseline_rmse": float(np.sqrt(np.mean(mean_err**2))),  # global-mean predictor
        "n_ratings": len(train) + len(test),
        "n_test": len(test),
        "fit_seconds": fit_seconds,
        "ranking_fit_seconds": rank_fit_seconds,
        "ranking_model": ranker.kind,
        f"precision_at_{k}": served.precision,
        f"recall_at_{k}": served.recall,
        f"ndcg_at_{k}": served.ndcg,
        "coverage": served.coverage,
        f"baseline_precision_at_{k}": baseline.precision,
        f"baseline_recall_at_{k}": baseline.recall,
        f"baseline_ndcg_at_{k}": baseline.ndcg,
        "baseline_coverage": baseline.coverage,
        "n_ranked_users": int(test.loc[test["rating"] >= RELEVANT_RATING, "user_id"].nunique()),
        "models": {name: scores.as_dict() for name, scores in rows.items()},
    }


def evaluate_frame(
    ratings: pd.DataFrame,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    params: SVDParams = SVDParams(),  # noqa: B008 - frozen
    ranking: RankingParams = RankingParams(),  # noqa: B008 - frozen
    k: int = 10,
    protocol: Protocol = "random",
) -> dict[str, Any]:
    """:func:`evaluate_split` on a split of ``ratings`` (SVD seeded by ``params.seed``):
    ``random``, the ``seed``-ed pair split the trainer's gate uses; ``temporal``, one
    global time cut (:func:`ml.dataset.time_split`); ``prequential``, a replay in time
    order (:func:`ml.prequential.prequential`)."""
    data = clean_ratings(ratings)
    if protocol == "prequential":
        return {"protocol": protocol, **prequential(data, test_size=test_size, ranking=ranking, k=k,
                                                    seed=seed)}
    if protocol == "temporal":
        train, test = time_split(data, test_size=test_size)
    else:
        train, test = pair_split(data, test_size=test_size, seed=seed)
    result = evaluate_split(train, test, params, rating_scale=rating_scale_of(data), ranking=ranking, k=k)
    return {"protocol": protocol, **result}


def spread(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation, min and max over runs of each numeric top-level figure."""
    keys = [key for key, value in runs[0].items() if isinstance(value, int | float)
            and not isinstance(value, bool)]
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        values = np.array([run[key] for run in runs], dtype=np.float64)
        out[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1
                    else 0.0, "min": float(values.min()), "max": float(values.max())}
    return out


def evaluate_file(
    path: Path | str,
    format: str = "auto",
    test_size: float = 0.2,
    seed: int = 0,
    params: SVDParams = SVDParams(),  # noqa: B008 - frozen
    *,
    ranking: RankingParams = RankingParams(),  # noqa: B008 - frozen
    seeds: int = 1,
    skip_bad: bool = False,
    protocol: Protocol = "random",
) -> dict[str, Any]:
    """Load a ratings file (see :func:`ml.data.load_ratings`) and evaluate it on
    ``seeds`` splits (``seed``, ``seed + 1``, …; the SVD seeded alike).

    Keys: rmse, mae, baseline_rmse, n_ratings, n_test, fit_seconds, ranking_fit_seconds,
    ranking_model, precision_at_10, recall_at_10, ndcg_at_10, coverage,
    baseline_precision_at_10, baseline_recall_at_10, baseline_ndcg_at_10,
    baseline_coverage, n_ranked_users, models (per-model rows), skipped_lines, format;
    with ``seeds > 1`` the figures of the first split and ``spread`` (mean, std, min,
    max of each over all splits).
    """
    loaded = load_ratings(path, format, skip_bad=skip_bad)
    runs = [evaluate_frame(loaded.frame, test_size=test_size, seed=seed + i,
                           params=dataclasses.replace(params, seed=params.seed + i), ranking=ranking,
                           protocol=protocol)
            for i in range(max(1, seeds))]
    result = dict(runs[0])
    if seeds > 1:
        result["seeds"] = seeds
        result["spread"] = spread(runs)
    result["skipped_lines"] = len(loaded.skipped_lines)
    result["format"] = loaded.format
    return result
