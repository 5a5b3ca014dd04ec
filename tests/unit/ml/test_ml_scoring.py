"""Vectorised scores equal Surprise's predict().est, unknown ids included."""

from __future__ import annotations

import numpy as np
import pytest
from surprise import SVD

from ml.scoring import SVDFactors, candidate_movies, from_surprise, score_pairs, score_users
from ml.train import TrainResult

UNKNOWN_USER = 10_000_001
UNKNOWN_MOVIE = 20_000_002


def _surprise(algo: SVD, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
    return np.array([[algo.predict(int(u), int(m)).est for m in movies] for u in users])


def test_every_pair_equals_surprise_predict(trained: TrainResult, algo: SVD) -> None:
    f = trained.factors
    users = np.append(f.user_ids, UNKNOWN_USER)
    movies = np.append(f.movie_ids, UNKNOWN_MOVIE)
    ours = score_users(f, users, movies)
    theirs = _surprise(algo, users, movies)
    assert ours.shape == (len(users), len(movies))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    # Clipping is exercised: some estimates sit on the bounds.
    assert (theirs == f.rating_scale[1]).any() or (theirs == f.rating_scale[0]).any()


def test_unknown_ids_fall_back_to_biases_as_data(trained: TrainResult, algo: SVD) -> None:
    f = trained.factors
    known_user, known_movie = int(f.user_ids[0]), int(f.movie_ids[0])
    scores = score_users(f, [UNKNOWN_USER, known_user], [UNKNOWN_MOVIE, known_movie])
    lo, hi = f.rating_scale
    assert scores[0, 0] == pytest.approx(f.mu)
    assert scores[0, 1] == pytest.approx(np.clip(f.mu + f.bi[0], lo, hi))
    assert scores[1, 0] == pytest.approx(np.clip(f.mu + f.bu[0], lo, hi))
    assert algo.predict(UNKNOWN_USER, known_movie).details["was_impossible"] is False
    assert scores[0, 1] == pytest.approx(algo.predict(UNKNOWN_USER, known_movie).est, abs=1e-12)


def test_score_pairs_equals_predict(trained: TrainResult, algo: SVD) -> None:
    f = trained.factors
    rng = np.random.default_rng(0)
    users = np.append(rng.choice(f.user_ids, 500), [UNKNOWN_USER, UNKNOWN_USER, 1])
    movies = np.append(rng.choice(f.movie_ids, 500), [UNKNOWN_MOVIE, 1, UNKNOWN_MOVIE])
    theirs = np.array([algo.predict(int(u), int(m)).est for u, m in zip(users, movies, strict=True)])
    np.testing.assert_allclose(score_pairs(f, users, movies, chunk_size=64), theirs, atol=1e-9)


def test_predictions_stay_in_the_rating_scale(trained: TrainResult) -> None:
    f = trained.factors
    scores = score_users(f, f.user_ids)
    lo, hi = f.rating_scale
    assert scores.min() >= lo and scores.max() <= hi
    assert np.isfinite(scores).all()


def test_ids_map_back_to_surprise_inner_ids(trained: TrainResult, algo: SVD) -> None:
    f = trained.factors
    ts = algo.trainset
    for raw in f.user_ids[:20].tolist():
        assert f.user_index([raw])[0] == ts.to_inner_uid(raw)
    for raw in f.movie_ids[:20].tolist():
        assert f.movie_index([raw])[0] == ts.to_inner_iid(raw)
    assert f.user_index([UNKNOWN_USER]).tolist() == [-1]


def test_arrays_round_trip(trained: TrainResult, algo: SVD) -> None:
    again = SVDFactors.from_arrays(trained.factors.arrays())
    same = from_surprise(algo)
    for name, value in trained.factors.arrays().items():
        assert np.array_equal(again.arrays()[name], value), name
        assert np.array_equal(same.arrays()[name], value), name


def test_inconsistent_shapes_are_refused(trained: TrainResult) -> None:
    arrays = trained.factors.arrays()
    arrays["bi"] = arrays["bi"][:-1]
    with pytest.raises(ValueError, match="inconsistent"):
        SVDFactors.from_arrays(arrays)


def test_candidates_are_model_movies_restricted_to_catalogue(trained: TrainResult) -> None:
    f = trained.factors
    all_movies = candidate_movies(f)
    assert all_movies.tolist() == sorted(f.movie_ids.tolist())
    catalogue = [int(f.movie_ids[3]), int(f.movie_ids[1]), UNKNOWN_MOVIE]
    assert candidate_movies(f, catalogue).tolist() == sorted(catalogue[:2])
