"""The sparse generator: exact size, distinct pairs, MovieLens' long tails, in memory
∝ ratings; and the ml-25m shape scaled down."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.sparse_synthetic import ML_25M, generate_sparse, ml25m_shape
from ml.synthetic import SyntheticData


@pytest.fixture(scope="module")
def scaled() -> SyntheticData:
    """The ml-25m shape at 400k ratings: 2,601 users x 7,471 movies."""
    shape = ml25m_shape(400_000)
    return generate_sparse(shape["n_users"], shape["n_movies"], shape["n_ratings"], seed=3)


def test_exact_size_distinct_pairs_and_frames(scaled: SyntheticData) -> None:
    r, shape = scaled.ratings, ml25m_shape(400_000)
    assert len(r) == 400_000
    assert not r.duplicated(["user_id", "movie_id"]).any()
    assert list(r.columns) == ["user_id", "movie_id", "rating", "rated_at"]
    assert str(r["rated_at"].dtype) == "datetime64[ns, UTC]"
    assert r["user_id"].between(1, shape["n_users"]).all()
    assert r["movie_id"].between(1, shape["n_movies"]).all()
    assert scaled.movies["id"].tolist() == list(range(1, shape["n_movies"] + 1))
    per_movie = np.bincount(r["movie_id"], minlength=shape["n_movies"] + 1)[1:]
    assert np.array_equal(scaled.movies["popularity"].to_numpy(), per_movie.astype(float))


def test_every_user_rates_twenty_and_a_few_rate_a_lot(scaled: SyntheticData) -> None:
    per_user = scaled.ratings["user_id"].value_counts()
    assert len(per_user) == ml25m_shape(400_000)["n_users"] and per_user.min() >= 20
    # ml-25m: median 71, mean 154 ratings per user.
    assert 55 < per_user.median() < 90 and 140 < per_user.mean() < 170
    assert per_user.max() > 20 * per_user.median()


def test_popularity_has_a_long_tail(scaled: SyntheticData) -> None:
    counts = np.sort(scaled.movies["popularity"].to_numpy())[::-1]
    top1 = counts[: len(counts) // 100].sum() / counts.sum()
    top10 = counts[: len(counts) // 10].sum() / counts.sum()
    assert 0.08 < top1 < 0.25 and 0.45 < top10 < 0.7  # ml-latest-small: 16%, 60%
    assert 0.1 < np.mean(counts < 5) < 0.5


def test_ratings_are_half_stars_in_the_real_range(scaled: SyntheticData) -> None:
    r = scaled.ratings["rating"].to_numpy()
    assert set(np.unique(r).tolist()) == {x / 2 for x in range(1, 11)}
    assert 3.4 < r.mean() < 3.65 and 0.95 < r.std() < 1.15
    per_movie = scaled.ratings["movie_id"].value_counts()
    decile = pd.Series(pd.qcut(per_movie.rank(method="first"), 10, labels=False), per_movie.index)
    means = scaled.ratings["rating"].groupby(scaled.ratings["movie_id"].map(decile)).mean().to_numpy()
    assert means[-1] > means[0] + 0.5  # popular movies are rated higher


def test_same_seed_same_data() -> None:
    a, b = generate_sparse(300, 500, 12_000, seed=1), generate_sparse(300, 500, 12_000, seed=1)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    assert not a.ratings.equals(generate_sparse(300, 500, 12_000, seed=2).ratings)


@pytest.mark.parametrize(("users", "movies", "n"), [(7, 5, 35), (40, 60, 2_000), (50, 400, 1), (4, 6, 0)])
def test_small_and_full_shapes(users: int, movies: int, n: int) -> None:
    r = generate_sparse(users, movies, n, seed=0).ratings
    assert len(r) == n and not r.duplicated(["user_id", "movie_id"]).any()


def test_the_ml25m_shape_scales_users_linearly_and_movies_by_the_square_root() -> None:
    assert ml25m_shape(ML_25M["n_ratings"]) == ML_25M
    one = ml25m_shape(1_000_000)
    assert one["n_users"] == 6_502 and one["n_movies"] == 11_809
    assert ml25m_shape(4_000_000)["n_movies"] == pytest.approx(2 * one["n_movies"], abs=1)
    tiny = ml25m_shape(4_000)
    assert tiny["n_users"] * tiny["n_movies"] >= 4_000 * 2
