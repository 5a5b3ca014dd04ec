"""Training: held-out evaluation, refit on all ratings, errors, the process pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.dataset import MIN_RATINGS, clean_ratings, split_ratings
from ml.errors import DataFormatError, NotEnoughRatings
from ml.metrics import held_out_accuracy
from ml.train import (
    SVDParams,
    TrainResult,
    train_in_process,
    train_model,
    training_executor,
)


def _same_factors(a: TrainResult, b: TrainResult) -> bool:
    fa, fb = a.factors.arrays(), b.factors.arrays()
    return fa.keys() == fb.keys() and all(np.array_equal(fa[k], fb[k]) for k in fa)


def test_fits_on_all_ratings_with_the_given_params(
    trained: TrainResult, ratings: pd.DataFrame, params: SVDParams
) -> None:
    f = trained.factors
    assert trained.n_ratings == len(ratings)
    # The serving model saw every user and movie, not just the training split's.
    assert set(f.user_ids.tolist()) == set(ratings["user_id"].tolist())
    assert set(f.movie_ids.tolist()) == set(ratings["movie_id"].tolist())
    assert f.pu.shape == (len(f.user_ids), params.n_factors)
    assert f.qi.shape == (len(f.movie_ids), params.n_factors)
    assert f.mu == pytest.approx(ratings["rating"].mean())
    assert f.rating_scale == (ratings["rating"].min(), ratings["rating"].max())
    # A pair split holds out about a fifth: each pair by a seeded hash of it.
    assert abs(trained.n_test - 0.2 * len(ratings)) < 0.02 * len(ratings)
    assert trained.fit_seconds > 0
    assert trained.params == params


def test_held_out_rmse_clearly_beats_the_global_mean(
    ratings: pd.DataFrame, params: SVDParams
) -> None:
    result = train_model(ratings, params, test_size=0.2)
    train, test = split_ratings(clean_ratings(ratings), test_size=0.2, seed=params.seed)
    baseline = float(np.sqrt(np.mean((test["rating"] - train["rating"].mean()) ** 2)))
    assert result.rmse < 0.9 * baseline
    assert 0 < result.mae < result.rmse


def test_metrics_are_not_measured_on_training_data(
    ratings: pd.DataFrame, params: SVDParams
) -> None:
    # Training error of the serving model is far lower than the recorded held-out error.
    result = train_model(ratings, params)
    train_error = held_out_accuracy(result.factors, clean_ratings(ratings)).rmse
    assert train_error < result.rmse - 0.05


def test_same_seed_same_model_other_seed_other_model(
    ratings: pd.DataFrame, params: SVDParams
) -> None:
    a = train_model(ratings, params)
    b = train_model(ratings, params)
    c = train_model(ratings, SVDParams(n_factors=20, seed=8))
    assert _same_factors(a, b) and a.rmse == b.rmse
    assert not _same_factors(a, c)


def test_split_is_disjoint_complete_and_seeded(ratings: pd.DataFrame) -> None:
    train, test = split_ratings(ratings, test_size=0.25, seed=1)
    key = ["user_id", "movie_id"]
    assert len(train) + len(test) == len(ratings)
    assert len(test) == int(np.ceil(0.25 * len(ratings)))
    assert train.merge(test, on=key).empty
    again, _ = split_ratings(ratings, test_size=0.25, seed=1)
    other, _ = split_ratings(ratings, test_size=0.25, seed=2)
    assert again.equals(train)
    assert not other.equals(train)


def test_rating_scale_parameter_overrides_the_data(
    ratings: pd.DataFrame, params: SVDParams
) -> None:
    narrow = ratings[(ratings["rating"] >= 1.0) & (ratings["rating"] <= 4.0)]
    result = train_model(narrow, params, rating_scale=(0.5, 5.0))
    assert result.factors.rating_scale == (0.5, 5.0)
    assert train_model(narrow, params).factors.rating_scale == (1.0, 4.0)


@pytest.mark.parametrize("n", [0, 1, MIN_RATINGS - 1])
def test_too_few_ratings_say_how_many_are_needed(
    ratings: pd.DataFrame, n: int, params: SVDParams
) -> None:
    with pytest.raises(NotEnoughRatings) as err:
        train_model(ratings.head(n), params)
    assert err.value.got == n
    assert err.value.needed == MIN_RATINGS
    assert f"need at least {MIN_RATINGS}" in str(err.value)


def test_malformed_frames_are_refused(ratings: pd.DataFrame) -> None:
    with pytest.raises(DataFormatError, match="lacks column"):
        train_model(ratings.drop(columns=["rating"]))
    broken = ratings.copy()
    broken.loc[3, "rating"] = np.nan
    with pytest.raises(DataFormatError, match="empty"):
        train_model(broken)
    floats = ratings.astype({"user_id": "float64"})
    with pytest.raises(DataFormatError, match="integers"):
        train_model(floats)


def test_repeated_pair_keeps_the_latest_rating() -> None:
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "movie_id": [1, 1, 1, 2, 2, 3, 3, 1, 2, 3, 1],
            "rating": [5.0, 1.0, 3.0, 3.0, 4.0, 2.0, 5.0, 4.0, 3.0, 2.0, 1.0],
            "rated_at": pd.to_datetime([20, 10] + [30] * 9, unit="s", utc=True),
        }
    )
    cleaned = clean_ratings(frame, min_ratings=1)
    assert len(cleaned) == 10
    kept = cleaned[(cleaned["user_id"] == 1) & (cleaned["movie_id"] == 1)]
    assert kept["rating"].tolist() == [5.0]  # rated_at 20 beats the later row at 10


async def test_train_in_process_gives_the_same_model(
    ratings: pd.DataFrame, params: SVDParams
) -> None:
    small = ratings.head(3000)
    here = train_model(small, params, include_pickle=True)
    there = await train_in_process(small, params, include_pickle=True)
    assert _same_factors(here, there)
    assert there.rmse == here.rmse
    assert there.algo_pickle is not None


async def test_train_in_process_raises_the_worker_error(
    ratings: pd.DataFrame, params: SVDParams
) -> None:
    with pytest.raises(NotEnoughRatings) as err:
        await train_in_process(ratings.head(3), params)
    assert (err.value.got, err.value.needed) == (3, MIN_RATINGS)
    assert err.value.hint is not None


async def test_train_in_process_on_a_one_process_pool_gives_the_same_model(
    ratings: pd.DataFrame, params: SVDParams
) -> None:
    small = ratings.head(3000)
    here = train_model(small, params)
    pool = training_executor(max_workers=1)  # the two fits one after the other
    try:
        there = await train_in_process(small, params, executor=pool)
    finally:
        pool.shutdown()
    assert _same_factors(here, there)
    assert (there.rmse, there.mae, there.n_test, there.n_ratings) == (
        here.rmse, here.mae, here.n_test, here.n_ratings)


async def test_train_in_process_raises_an_error_of_a_fit(ratings: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="negative"):
        await train_in_process(ratings.head(3000), SVDParams(n_factors=-1))
