"""Train Surprise SVD: evaluate on a held-out split, and fit on all ratings to serve.

Two independent fits of the same cleaned ratings: :func:`held_out_fit` (on a seeded
split's training part, scored on its test part: the RMSE that decides activation) and
:func:`serving_fit` (on every rating).  ``train_model`` runs them one after the other
in the calling process; ``train_in_process`` runs them side by side in a two-process
pool for event-loop callers.  What crosses the process boundary is the cleaned rating
columns going in, and held-out figures and a :class:`ServingFit` of numpy arrays
coming back (the Surprise pickle only when asked for).
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

from ml.dataset import (
    MIN_RATINGS,
    RATING_COLUMNS,
    clean_ratings,
    rating_scale_of,
    split_ratings,
)
from ml.scoring import SVDFactors, from_surprise, score_pairs
from ml.trainset import trainset_from_frame


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
    """Fit SVD on every row of a cleaned frame; returns the model and fit seconds.

    The trainset is built from the frame's arrays (:mod:`ml.trainset`), the same one
    ``Dataset.load_from_df(...).build_full_trainset()`` would make, only faster."""
    trainset = trainset_from_frame(ratings, rating_scale)
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


# Pairs scored at a time: two (chunk x factors) float64 blocks, 13 MB at 100 factors.
_SCORE_CHUNK = 8192


def held_out_accuracy(factors: SVDFactors, test: pd.DataFrame) -> HeldOut:
    """RMSE and MAE of ``factors`` on ``test`` (Surprise's ``accuracy`` formulas)."""
    est = score_pairs(factors, test["user_id"].to_numpy(), test["movie_id"].to_numpy(),
                      chunk_size=_SCORE_CHUNK)
    err = est - test["rating"].to_numpy(dtype=np.float64)
    return HeldOut(
        rmse=float(np.sqrt(np.mean(err**2))), mae=float(np.mean(np.abs(err))), n_test=len(test)
    )


@dataclass(frozen=True, eq=False)
class ServingFit:
    """The serving model (fitted on all ratings), as it leaves its process."""

    factors: SVDFactors
    fit_seconds: float
    algo_pickle: bytes | None


@dataclass(frozen=True)
class _Prepared:
    """A cleaned frame (the rating columns only) and the clip bounds of the model."""

    data: pd.DataFrame
    scale: tuple[float, float]


def _prepare(
    ratings: pd.DataFrame, rating_scale: tuple[float, float] | None, min_ratings: int
) -> _Prepared:
    data = clean_ratings(ratings, min_ratings=min_ratings)
    scale = rating_scale if rating_scale is not None else rating_scale_of(data)
    return _Prepared(data.loc[:, list(RATING_COLUMNS)], scale)


def held_out_fit(
    data: pd.DataFrame,
    params: SVDParams,
    rating_scale: tuple[float, float],
    test_size: float,
    split_seed: int,
) -> HeldOut:
    """Fit on a seeded split's training part of a cleaned frame, score its test part."""
    train, test = split_ratings(data, test_size=test_size, seed=split_seed)
    algo, _ = fit_svd(train, params, rating_scale)
    del train
    factors = from_surprise(algo)
    del algo  # and its trainset, before scoring's own buffers are made
    return held_out_accuracy(factors, test)


def serving_fit(
    data: pd.DataFrame,
    params: SVDParams,
    rating_scale: tuple[float, float],
    include_pickle: bool,
) -> ServingFit:
    """Fit on every row of a cleaned frame: the model that serves."""
    algo, fit_seconds = fit_svd(data, params, rating_scale)
    return ServingFit(
        factors=from_surprise(algo),
        fit_seconds=fit_seconds,
        algo_pickle=pickle.dumps(algo, protocol=pickle.HIGHEST_PROTOCOL) if include_pickle else None,
    )


def _result(
    held_out: HeldOut, serving: ServingFit, n_ratings: int, test_size: float, params: SVDParams
) -> TrainResult:
    return TrainResult(
        factors=serving.factors,
        rmse=held_out.rmse,
        mae=held_out.mae,
        n_ratings=n_ratings,
        n_test=held_out.n_test,
        test_size=test_size,
        fit_seconds=serving.fit_seconds,
        params=params,
        algo_pickle=serving.algo_pickle,
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
    """Evaluate on a held-out split, then refit on all ratings for serving (one after
    the other, in this process).

    ``rating_scale`` defaults to the lowest and highest rating in the data;
    ``split_seed`` defaults to ``params.seed``.  Raises ``NotEnoughRatings`` below
    ``min_ratings`` ratings and ``DataFormatError`` for a malformed frame.
    """
    prepared = _prepare(ratings, rating_scale, min_ratings)
    seed = params.seed if split_seed is None else split_seed
    held_out = held_out_fit(prepared.data, params, prepared.scale, test_size, seed)
    serving = serving_fit(prepared.data, params, prepared.scale, include_pickle)
    return _result(held_out, serving, len(prepared.data), test_size, params)


TRAINING_PROCESSES = 2  # the held-out fit and the serving fit, side by side


def training_executor(max_workers: int = TRAINING_PROCESSES) -> ProcessPoolExecutor:
    """A pool for training: by default one process for the held-out fit and one for
    the serving fit.  ``spawn``: forking a process that runs an event loop and client
    threads (Faust, aiokafka) can copy held locks into the child."""
    return ProcessPoolExecutor(
        max_workers=max_workers, mp_context=multiprocessing.get_context("spawn")
    )


async def train_in_process(
    ratings: pd.DataFrame,
    params: SVDParams = SVDParams(),
    *,
    test_size: float = 0.2,
    split_seed: int | None = None,
    rating_scale: tuple[float, float] | None = None,
    include_pickle: bool = False,
    min_ratings: int = MIN_RATINGS,
    executor: ProcessPoolExecutor | None = None,
) -> TrainResult:
    """:func:`train_model` in worker processes, so the event loop keeps running: the
    held-out fit and the serving fit are two jobs, in parallel on a two-process pool.

    The frame is cleaned here (in a thread; ``NotEnoughRatings`` and
    ``DataFormatError`` are raised before any process is involved) and each job gets
    the cleaned rating columns.  Same arguments, same result as :func:`train_model`.
    Pass a long-lived ``executor`` (see :func:`training_executor`) to avoid starting
    processes per call; without one, a pool is made for this call and shut down.
    """
    prepared = await asyncio.to_thread(_prepare, ratings, rating_scale, min_ratings)
    seed = params.seed if split_seed is None else split_seed
    loop = asyncio.get_running_loop()
    own = executor is None
    pool = training_executor() if executor is None else executor
    try:
        # run_in_executor passes positional arguments only.
        serving_job = loop.run_in_executor(
            pool, serving_fit, prepared.data, params, prepared.scale, include_pickle
        )
        held_out_job = loop.run_in_executor(
            pool, held_out_fit, prepared.data, params, prepared.scale, test_size, seed
        )
        # Both settle before anything is raised: a failed job does not leave the other
        # running in the pool behind the caller's back.
        held_out, serving = await asyncio.gather(
            held_out_job, serving_job, return_exceptions=True
        )
    finally:
        if own:
            pool.shutdown(wait=False, cancel_futures=True)
    if isinstance(held_out, BaseException):
        raise held_out
    if isinstance(serving, BaseException):
        raise serving
    return _result(held_out, serving, len(prepared.data), test_size, params)
