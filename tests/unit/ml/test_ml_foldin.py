"""Fold-in of unseen users against fixed item factors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.foldin import fold_in, measure_fold_in, recommend_folded, score_folded
from ml.scoring import score_users
from ml.topk import RatedPairs
from ml.train import SVDParams, TrainResult


def test_solution_satisfies_the_ridge_normal_equations(trained: TrainResult) -> None:
    f = trained.factors
    movies = f.movie_ids[:12]
    values = np.linspace(1.0, 5.0, 12)
    user = fold_in(f, 123456, movies, values, reg=2.0)
    x = np.hstack([np.ones((12, 1)), f.qi[:12]])
    w = np.concatenate([[user.bu], user.pu])
    residual = x @ w - (values - f.mu - f.bi[:12])
    gradient = x.T @ residual + 2.0 * w
    assert np.abs(gradient).max() < 1e-9
    assert user.n_ratings == 12


def test_fitting_the_given_ratings_beats_the_unknown_user_estimate(trained: TrainResult) -> None:
    f = trained.factors
    movies = f.movie_ids[:30]
    rng = np.random.default_rng(0)
    values = np.clip(np.round(rng.normal(2.0, 1.0, 30) * 2) / 2, 0.5, 5.0)
    user = fold_in(f, 1, movies, values, reg=1.0)
    folded = score_folded(f, [user], movies)[0]
    unknown = score_users(f, [987654321], movies)[0]
    assert np.mean((folded - values) ** 2) < 0.8 * np.mean((unknown - values) ** 2)


def test_no_known_movie_gives_the_unknown_user_scores(trained: TrainResult) -> None:
    f = trained.factors
    user = fold_in(f, 5, [99_999_001, 99_999_002], [5.0, 4.0])
    assert user.n_ratings == 0 and user.bu == 0.0 and not user.pu.any()
    np.testing.assert_allclose(
        score_folded(f, [user], f.movie_ids), score_users(f, [987654321], f.movie_ids)
    )


def test_folded_suggestions_skip_the_given_movies(trained: TrainResult) -> None:
    f = trained.factors
    given = f.movie_ids[:8]
    user = fold_in(f, 42_000_000, given, np.full(8, 4.5))
    top = recommend_folded(f, [user], k=20, rated=RatedPairs.of(np.full(8, 42_000_000), given))
    assert len(top) == 20
    assert not set(top.movie_ids.tolist()) & set(given.tolist())
    assert (np.diff(top.values) <= 0).all()


def test_measurement_on_held_out_users(ratings: pd.DataFrame) -> None:
    result = measure_fold_in(ratings, SVDParams(n_factors=20, seed=1), given=10, seed=0)
    assert result["new_users"] == int(0.1 * ratings["user_id"].nunique())
    assert result["fold_in_rmse"] < result["unknown_user_rmse"]
    for key in ("fold_in_precision_at_10", "popular_precision_at_10"):
        assert 0.0 <= result[key] <= 1.0
