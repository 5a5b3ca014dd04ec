"""Offline evaluation: metrics on a held-out split, model vs popularity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.evaluate import evaluate_file
from ml.metrics import popularity_top_k, ranking_metrics
from ml.synthetic import SyntheticData
from ml.topk import TopK
from ml.train import SVDParams
from ml.writers import write_dataset


def test_ranking_metrics_by_hand() -> None:
    top = TopK(
        user_ids=np.array([1, 1, 2, 2]),
        movie_ids=np.array([10, 11, 10, 12]),
        values=np.array([5.0, 4.0, 5.0, 4.0]),
    )
    test = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 3],
            "movie_id": [10, 13, 11, 14, 10],
            "rating": [4.0, 5.0, 3.5, 4.5, 4.0],
        }
    )
    m = ranking_metrics(top, test, k=2)
    # user 1: relevant {10, 13}, hit 10 → p=1/2, r=1/2; user 2: relevant {14} → 0, 0;
    # user 3: relevant {10}, nothing suggested → 0, 0.
    assert m.n_users == 3
    assert m.precision == pytest.approx((0.5 + 0 + 0) / 3)
    assert m.recall == pytest.approx((0.5 + 0 + 0) / 3)


def test_popularity_baseline_skips_rated_movies() -> None:
    train = pd.DataFrame(
        {"user_id": [1, 2, 3, 3, 4], "movie_id": [7, 7, 7, 8, 9], "rating": [4.0] * 5}
    )
    top = popularity_top_k(train, np.array([1, 3, 5]), k=2)
    assert top.for_user(1)[0].tolist() == [8, 9]
    assert top.for_user(3)[0].tolist() == [9]
    assert top.for_user(5)[0].tolist() == [7, 8]


def test_evaluate_file_reports_the_cli_keys(tmp_path: Path, data: SyntheticData) -> None:
    write_dataset(data.ratings, data.movies, tmp_path, "ml-latest")
    params = SVDParams(n_factors=20, seed=1)
    result = evaluate_file(tmp_path / "ratings.csv", "auto", 0.2, 0, params)
    for key in ("rmse", "mae", "n_ratings", "fit_seconds", "precision_at_10",
                "baseline_precision_at_10", "recall_at_10", "baseline_recall_at_10"):
        assert key in result, key
    assert result["n_ratings"] == len(data.ratings)
    assert result["format"] == "ml-latest" and result["skipped_lines"] == 0
    assert result["rmse"] < result["baseline_rmse"]
    assert 0 < result["precision_at_10"] <= 1 and 0 < result["baseline_precision_at_10"] <= 1
    assert result["fit_seconds"] > 0
    again = evaluate_file(tmp_path, "ml-latest", 0.2, 0, params)
    assert again["rmse"] == result["rmse"]
    assert again["precision_at_10"] == result["precision_at_10"]
