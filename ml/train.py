"""Train Surprise SVD: evaluate on a held-out split, then refit on all ratings to serve.

``train_model`` is a plain function of a ratings frame; ``train_in_process`` runs it
in a worker process for event-loop callers.  What crosses the process boundary is
the frame going in and a :class:`TrainResult` of numpy arrays coming back (the
Surprise pickle only when asked for).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from surprise import SVD

from ml.dataset import MIN_RATINGS, build_trainset, clean_ratings, rating_scale_of, split_ratings
from ml.scoring import SVDFactors, from_surprise, score_pairs


@dataclass(frozen=True)
class SVDParams:
    """Surprise SVD hyper-parameters (defaults: the seed's ``n_epochs=20``, Surprise's
    own for the rest).  ``seed`` seeds both the factor initialisation and the split."""

    n_factors: int = 100
    n_epochs: int = 20
    lr_all: float = 0.005
    reg_all: float = 0.02
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HeldOut:
    """Accuracy on ratings the model did not see."""

    rmse: float
    mae: float
    n_test: int


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A serving model (fitted on all ratings) and its held-out figures."""

    factors: SVDFactors
    rmse: float
    mae: float
    n_ratings: int
    n_test: int
    test_size: float
    fit_seconds: float  # the serving fit, on all ratings
    params: SVDParams
    algo_pickle: bytes | None = None  # Surprise's own SVD, only when asked for

    def metadata(self) -> dict[str, Any]:
        """JSON-ready summary (the model store and ``model_versions`` row use it)."""
        return {
            "rmse": self.rmse,
            "mae": self.mae,
            "n_ratings": self.n_ratings,
            "n_test": self.n_test,
            "test_size": self.test_size,
            "fit_seconds": self.fit_seconds,
            "params": self.params.as_dict(),
            "rating_scale": list(self.factors.rating_scale),
            "n_users": len(self.factors.user_ids),
            "n_movies": len(self.factors.movie_ids),
        }


def fit_svd(
    ratings: pd.DataFrame, params: SVDParams, rating_scale: tuple[float, float]
) -> tuple[SVD, float]:
    """Fit SVD on every row of a cleaned frame; returns the model and fit seconds."""
    trainset = build_trainset(ratings, rating_scale)
    algo = SVD(
        n_factors=params.n_factors,
        n_epochs=params.n_epochs,
        lr_all=params.lr_all,
        reg_all=params.reg_all,
        random_state=params.seed,
    )
    started = time.perf_counter()
    algo.fit(trainset)
    return algo, time.perf_counter() - started


def held_out_accuracy(factors: SVDFactors, test: pd.DataFrame) -> HeldOut:
    """RMSE and MAE of ``factors`` on ``test`` (Surprise's ``accuracy`` formulas)."""
    est = score_pairs(factors, test["user_id"].to_numpy(), test["movie_id"].to_numpy())
    err = est - test["rating"].to_numpy(dtype=np.float64)
    return HeldOut(
        rmse=float(np.sqrt(np.mean(err**2))), mae=float(np.mean(np.abs(err))), n_test=len(test)
    )


def train_model(
    ratings: pd.DataFrame,
    params: SVDParams = SVDParams(),
    *,
    test_size: float = 0.2,
    split_seed: int | None = None,
    rating_scale: tuple[float, float] | None = None,
    include_pickle: bool = False,
    min_ratings: int = MIN_RATINGS,
) -> TrainResult:
    """Evaluate on a held-out split, then refit on all ratings for serving.

    ``rating_scale`` defaults to the lowest and highest rating in the data;
    ``split_seed`` defaults to ``params.seed``.  Raises ``NotEnoughRatings`` below
    ``min_ratings`` ratings and ``DataFormatError`` for a malformed frame.
    """
    data = clean_ratings(ratings, min_ratings=min_ratings)
    scale = rating_scale if rating_scale is not None else rating_scale_of(data)
    train, test = split_ratings(
        data, test_size=test_size, seed=params.seed if split_seed is None else split_seed
    )
    eval_algo, _ = fit_svd(train, params, scale)
    held_out = held_out_accuracy(from_surprise(eval_algo), test)
    del eval_algo
    algo, fit_seconds = fit_svd(data, params, scale)
    return TrainResult(
        factors=from_surprise(algo),
        rmse=held_out.rmse,
        mae=held_out.mae,
        n_ratings=len(data),
        n_test=held_out.n_test,
        test_size=test_size,
        fit_seconds=fit_seconds,
        params=params,
        algo_pickle=pickle.dumps(algo, protocol=pickle.HIGHEST_PROTOCOL) if include_pickle else None,
    )


def training_executor() -> ProcessPoolExecutor:
    """A one-worker pool for training.  ``spawn``: forking a process that runs an event
    loop and client threads (Faust, aiokafka) can copy held locks into the child."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


async def train_in_process(
    ratings: pd.DataFrame,
    params: SVDParams = SVDParams(),
    *,
    test_size: float = 0.2,
    split_seed: int | None = None,
    rating_scale: tuple[float, float] | None = None,
    include_pickle: bool = False,
    executor: ProcessPoolExecutor | None = None,
) -> TrainResult:
    """:func:`train_model` in a worker process, so the event loop keeps running.

    Pass a long-lived ``executor`` (see :func:`training_executor`) to avoid starting
    a process per call; without one, a pool is made for this call and shut down.
    """
    loop = asyncio.get_running_loop()
    own = executor is None
    pool = training_executor() if executor is None else executor
    try:
        return await loop.run_in_executor(
            pool,
            _train_job,
            ratings,
            params,
            test_size,
            split_seed,
            rating_scale,
            include_pickle,
        )
    finally:
        if own:
            pool.shutdown(wait=False, cancel_futures=True)


def _train_job(
    ratings: pd.DataFrame,
    params: SVDParams,
    test_size: float,
    split_seed: int | None,
    rating_scale: tuple[float, float] | None,
    include_pickle: bool,
) -> TrainResult:
    # run_in_executor passes positional arguments only.
    return train_model(
        ratings,
        params,
        test_size=test_size,
        split_seed=split_seed,
        rating_scale=rating_scale,
        include_pickle=include_pickle,
    )
