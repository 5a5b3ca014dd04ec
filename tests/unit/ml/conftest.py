"""Small generated data and one trained model shared by the model-core tests."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
from surprise import SVD

from ml.synthetic import SyntheticData, generate
from ml.train import SVDParams, TrainResult, train_model

# Small enough to fit in well under a second, large enough for SVD to learn something.
SMALL = {"n_users": 300, "n_movies": 200, "n_ratings": 12_000}
FAST_PARAMS = SVDParams(n_factors=20, n_epochs=20, seed=7)


@pytest.fixture(scope="session")
def params() -> SVDParams:
    return FAST_PARAMS


@pytest.fixture(scope="session")
def data() -> SyntheticData:
    # Less noise than the generator's MovieLens-like default: a clear signal to learn
    # from 12k ratings, so "beats the global mean" has a wide margin.
    return generate(**SMALL, seed=3, noise=0.5)


@pytest.fixture(scope="session")
def ratings(data: SyntheticData) -> pd.DataFrame:
    return data.ratings


@pytest.fixture(scope="session")
def trained(ratings: pd.DataFrame) -> TrainResult:
    return train_model(ratings, FAST_PARAMS, test_size=0.2, include_pickle=True)


@pytest.fixture(scope="session")
def algo(trained: TrainResult) -> SVD:
    assert trained.algo_pickle is not None
    model = pickle.loads(trained.algo_pickle)
    assert isinstance(model, SVD)
    return model
