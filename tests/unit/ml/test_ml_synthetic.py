"""The synthetic generator: deterministic, the requested shape, MovieLens-like."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.synthetic import generate


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = generate(100, 80, 2000, seed=5), generate(100, 80, 2000, seed=5)
    c = generate(100, 80, 2000, seed=6)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    pd.testing.assert_frame_equal(a.movies, b.movies)
    assert not a.ratings.equals(c.ratings)


@pytest.mark.parametrize(("users", "movies", "n"), [(100, 80, 2000), (7, 5, 35), (50, 400, 1)])
def test_requested_shape(users: int, movies: int, n: int) -> None:
    data = generate(users, movies, n, seed=1)
    r = data.ratings
    assert len(r) == n
    assert data.users["id"].tolist() == list(range(1, users + 1))
    assert data.movies["id"].tolist() == list(range(1, movies + 1))
    assert r["user_id"].between(1, users).all() and r["movie_id"].between(1, movies).all()
    assert not r.duplicated(["user_id", "movie_id"]).any()
    assert list(r.columns) == ["user_id", "movie_id", "rating", "rated_at"]
    assert str(r["rated_at"].dtype) == "datetime64[ns, UTC]"


def test_ratings_are_half_steps_with_a_plausible_spread() -> None:
    r = generate(300, 200, 12_000, seed=2).ratings["rating"].to_numpy()
    assert r.min() >= 0.5 and r.max() <= 5.0
    assert np.array_equal(r * 2, np.round(r * 2))
    assert 3.0 < r.mean() < 4.2 and 0.7 < r.std() < 1.3
    assert len(np.unique(r)) >= 8


def test_popularity_is_skewed_and_recorded() -> None:
    data = generate(500, 400, 20_000, seed=3)
    counts = np.sort(data.ratings["movie_id"].value_counts().to_numpy())[::-1]
    assert counts[:40].sum() > 0.25 * counts.sum()  # top 10% of movies: over a quarter
    per_movie = np.bincount(data.ratings["movie_id"], minlength=401)[1:]
    assert np.array_equal(data.movies["popularity"].to_numpy(), per_movie.astype(float))
    assert data.movies["title"].str.len().min() > 5
    assert data.movies["overview"].str.endswith(".").all()


def test_impossible_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        generate(3, 3, 10)
    full = generate(3, 3, 9, seed=0).ratings
    assert len(full) == 9
