"""The synthetic generator: deterministic, the requested shape, MovieLens-like."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from ml.genres import GENRES
from ml.synthetic import SyntheticData, generate

F64 = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def ml100k_like() -> SyntheticData:
    return generate(943, 1682, 100_000, seed=4, half_stars=False)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = generate(100, 80, 2000, seed=5), generate(100, 80, 2000, seed=5)
    c = generate(100, 80, 2000, seed=6)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    pd.testing.assert_frame_equal(a.movies, b.movies)
    assert not a.ratings.equals(c.ratings)
    whole = generate(100, 80, 2000, seed=5, half_stars=False).ratings
    pd.testing.assert_frame_equal(whole, generate(100, 80, 2000, seed=5, half_stars=False).ratings)


@pytest.mark.parametrize(
    ("users", "movies", "n"),
    [(100, 80, 2000), (7, 5, 35), (50, 400, 1), (3, 3, 9), (4, 6, 0), (600, 400, 120_000)],
)
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


def test_every_user_has_twenty_ratings_or_what_fits() -> None:
    per_user = generate(300, 200, 12_000, seed=2).ratings["user_id"].value_counts()
    assert len(per_user) == 300 and per_user.min() >= 20
    assert per_user.median() < per_user.mean()  # a few heavy users, as in MovieLens
    tight = generate(100, 80, 1_550, seed=2).ratings["user_id"].value_counts()
    assert len(tight) == 100 and tight.min() >= 15  # 1,550 ratings: 15 each fit
    few_movies = generate(40, 12, 400, seed=2).ratings["user_id"].value_counts()
    assert few_movies.min() >= 10 and few_movies.max() <= 12


def test_ratings_are_half_steps_with_a_plausible_spread() -> None:
    r = generate(300, 200, 12_000, seed=2).ratings["rating"].to_numpy()
    assert r.min() >= 0.5 and r.max() <= 5.0
    assert np.array_equal(r * 2, np.round(r * 2))
    assert 3.3 < r.mean() < 3.8 and 0.9 < r.std() < 1.25
    assert len(np.unique(r)) == 10


def test_whole_stars_in_movielens_shares(ml100k_like: SyntheticData) -> None:
    r = ml100k_like.ratings["rating"].to_numpy()
    assert set(np.unique(r).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    shares = np.array([np.mean(r == star) for star in (1, 2, 3, 4, 5)])
    np.testing.assert_allclose(shares, [0.06, 0.11, 0.26, 0.35, 0.23], atol=0.005)
    assert 3.5 < r.mean() < 3.65 and 1.05 < r.std() < 1.2


def test_popularity_is_skewed_with_a_long_tail(ml100k_like: SyntheticData) -> None:
    per_movie = np.bincount(ml100k_like.ratings["movie_id"], minlength=1683)[1:]
    counts = np.sort(per_movie)[::-1]
    assert 0.38 < counts[:168].sum() / counts.sum() < 0.5  # top 10%: ml-100k's 43%
    assert 0.05 < counts[:17].sum() / counts.sum() < 0.11  # top 1%: ml-100k's 7%
    assert 0.1 < np.mean(per_movie < 5) < 0.35  # rarely rated movies: ml-100k's 20%
    half = counts[: len(counts) // 2].astype(np.float64)
    slope = np.polyfit(np.log(np.arange(1, len(half) + 1)), np.log(half), 1)[0]
    assert -0.8 < slope < -0.55


def test_popular_movies_are_rated_higher(ml100k_like: SyntheticData) -> None:
    # Mean rating by decile of movies ordered by popularity (ml-100k: 2.25 ... 3.77).
    r = ml100k_like.ratings
    per_movie = r["movie_id"].value_counts()
    decile = pd.Series(pd.qcut(per_movie.rank(method="first"), 10, labels=False), per_movie.index)
    means = r["rating"].groupby(r["movie_id"].map(decile)).mean().to_numpy()
    assert means[-1] > means[0] + 0.6
    assert means[-1] == means.max() and np.corrcoef(np.arange(10), means)[0, 1] > 0.9


def test_popularity_is_recorded() -> None:
    data = generate(500, 400, 20_000, seed=3)
    per_movie = np.bincount(data.ratings["movie_id"], minlength=401)[1:]
    assert np.array_equal(data.movies["popularity"].to_numpy(), per_movie.astype(float))
    assert data.movies["title"].str.len().min() > 5
    assert data.movies["overview"].str.endswith(".").all()


def _precision_at_10(data: SyntheticData, score: str) -> float:
    """Held-out precision@10 (20% of the ratings, relevant: >= 4 stars) of the
    popularity chart or of EASE^R (an item-item top-N model)."""
    r = data.ratings
    users, movies = r["user_id"].to_numpy() - 1, r["movie_id"].to_numpy() - 1
    test = np.random.default_rng(0).random(len(r)) < 0.2
    seen = np.zeros((len(data.users), len(data.movies)))
    seen[users[~test], movies[~test]] = 1.0
    relevant = np.zeros(seen.shape, dtype=bool)
    relevant[users[test], movies[test]] = r["rating"].to_numpy()[test] >= 4.0
    if score == "popularity":
        scores: F64 = np.broadcast_to(seen.sum(axis=0), seen.shape)
    else:
        inverse = np.linalg.inv(seen.T @ seen + 200.0 * np.eye(seen.shape[1]))
        weights = -inverse / np.diag(inverse)
        np.fill_diagonal(weights, 0.0)
        scores = seen @ weights
    top = np.argpartition(-np.where(seen > 0, -np.inf, scores), 10, axis=1)[:, :10]
    hits = np.take_along_axis(relevant, top, axis=1).sum(axis=1)
    return float(hits[relevant.any(axis=1)].mean() / 10)


def test_which_movies_a_user_rates_follows_their_taste() -> None:
    # Co-occurrence carries taste: a top-N model beats the popularity chart, as on
    # MovieLens; without taste in the choice it does not.
    tasteful = generate(600, 400, 30_000, seed=0)
    assert _precision_at_10(tasteful, "ease") > 1.15 * _precision_at_10(tasteful, "popularity")
    tasteless = generate(600, 400, 30_000, seed=0, taste=0.0)
    assert _precision_at_10(tasteless, "ease") < _precision_at_10(tasteless, "popularity")


def test_impossible_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        generate(3, 3, 10)
    full = generate(3, 3, 9, seed=0).ratings
    assert len(full) == 9


def test_every_movie_has_one_to_three_movielens_genres() -> None:
    a, b = generate(40, 300, 2000, seed=5), generate(40, 300, 2000, seed=5)
    genres = a.movies["genres"].tolist()
    assert genres == b.movies["genres"].tolist()  # deterministic by seed
    assert all(1 <= len(g) <= 3 and len(set(g)) == len(g) and set(g) <= set(GENRES) for g in genres)
    assert {len(g) for g in genres} == {1, 2, 3}
    assert len({name for g in genres for name in g}) == len(GENRES)  # the whole list is used
    assert genres != generate(40, 300, 2000, seed=6).movies["genres"].tolist()
