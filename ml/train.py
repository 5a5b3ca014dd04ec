"""Train a version: Surprise SVD (the predicted rating) and a ranking model (the list's
order), each evaluated on a held-out split and fitted on all ratings to serve.

Two independent jobs over the same cleaned ratings: :func:`held_out_fit` (both models
on a seeded pair split's training part, scored on its test part together with the
active version's held-out models and popularity: the figures the gate compares) and
:func:`serving_fit` (both models on every rating). ``train_model`` runs them one after
the other in the calling process; ``train_in_process`` runs them side by side in a
two-process pool for event-loop callers. What crosses the process boundary is the
cleaned rating columns going in, and numpy arrays coming back (the Surprise pickle only
when asked for).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from surprise import SVD

from ml.background import Background, enter_background
from ml.dataset import MIN_RATINGS, RATING_COLUMNS, clean_ratings, pair_split, rating_scale_of
from ml.gate import SplitScores, score_split
from ml.ranking import RankingModel, RankingParams, fit_ranking
from ml.scoring import SVDFactors, from_surprise
from ml.trainset import trainset_from_frame


@dataclass(frozen=True)
class SVDParams:
    """Surprise SVD hyper-parameters (defaults: the seed's ``n_epochs=20`` and 100
    factors; ``lr_all=0.01, reg_all=0.05`` measured better than Surprise's own 0.005 /
    0.02 on MovieLens at the same cost).  ``seed`` seeds the factors and the split."""

    n_factors: int = 100
    n_epochs: int = 20
    lr_all: float = 0.01
    reg_all: float = 0.05
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class EvalModels:
    """A version's held-out fits, stored with it: the next candidate's gate re-scores
    them on its own split (their training part never held that split's test pairs)."""

    svd: SVDFactors
    ranking: RankingModel | None


@dataclass(frozen=True, eq=False)
class HeldOutReport:
    """Figures on one held-out split: the candidate, the active version (when given its
    held-out models) and popularity, plus the candidate's held-out models."""

    candidate: SplitScores
    active: SplitScores | None
    popularity: SplitScores
    models: EvalModels
    n_test: int

    def metadata(self) -> dict[str, Any]:
        return {
            "ndcg_at_10": self.candidate.ndcg, "precision_at_10": self.candidate.precision,
            "recall_at_10": self.candidate.recall, "coverage": self.candidate.coverage,
            "baseline_ndcg_at_10": self.popularity.ndcg,
            "baseline_precision_at_10": self.popularity.precision,
            "active_on_split": self.active.as_dict() if self.active else None,
        }


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A serving version (both models fitted on all ratings) and its held-out figures."""

    factors: SVDFactors
    rmse: float
    mae: float
    n_ratings: int
    n_test: int
    test_size: float
    fit_seconds: float  # the serving SVD fit, on all ratings
    params: SVDParams
    algo_pickle: bytes | None = None  # Surprise's own SVD, only when asked for
    ranking: RankingModel | None = None  # the list's order; None: by predicted rating
    ranking_fit_seconds: float = 0.0
    held_out: HeldOutReport | None = None
    engine: str = "local"  # what fitted it: "local" (this module) or "spark" (ml.spark_engine)

    def metadata(self) -> dict[str, Any]:
        """JSON-ready summary (the model store and ``model_versions`` row use it)."""
        return {
            "rmse": self.rmse,
            "mae": self.mae,
            "n_ratings": self.n_ratings,
            "n_test": self.n_test,
            "test_size": self.test_size,
            "fit_seconds": self.fit_seconds,
            "engine": self.engine,
            "params": self.params.as_dict(),
            "rating_scale": list(self.factors.rating_scale),
            "n_users": len(self.factors.user_ids),
            "n_movies": len(self.factors.movie_ids),
            "ranking": None if self.ranking is None else {
                "kind": self.ranking.kind, "params": self.ranking.params.as_dict(),
                "fit_seconds": self.ranking_fit_seconds},
            **(self.held_out.metadata() if self.held_out else {}),
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


@dataclass(frozen=True, eq=False)
class ServingFit:
    """The serving models (fitted on all ratings), as they leave their process."""

    factors: SVDFactors
    fit_seconds: float
    algo_pickle: bytes | None
    ranking: RankingModel | None
    ranking_fit_seconds: float


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


def _fit_ranking(data: pd.DataFrame, params: RankingParams | None) -> tuple[RankingModel | None, float]:
    if params is None:
        return None, 0.0
    started = time.perf_counter()
    return fit_ranking(data, params), time.perf_counter() - started


def held_out_fit(
    data: pd.DataFrame,
    params: SVDParams,
    rating_scale: tuple[float, float],
    test_size: float,
    split_seed: int,
    ranking: RankingParams | None = None,
    active: EvalModels | None = None,
) -> HeldOutReport:
    """Fit both models on a seeded pair split's training part of a cleaned frame and
    score them, the ``active`` version's held-out models and popularity on its test part."""
    train, test = pair_split(data, test_size=test_size, seed=split_seed)
    algo, _ = fit_svd(train, params, rating_scale)
    factors = from_surprise(algo)
    del algo  # and its trainset, before scoring's own buffers are made
    ranker, _ = _fit_ranking(train, ranking)
    return HeldOutReport(
        candidate=score_split(factors, ranker, train, test),
        active=score_split(active.svd, active.ranking, train, test) if active else None,
        popularity=score_split(None, None, train, test),
        models=EvalModels(factors, ranker),
        n_test=len(test),
    )


def serving_fit(
    data: pd.DataFrame,
    params: SVDParams,
    rating_scale: tuple[float, float],
    include_pickle: bool,
    ranking: RankingParams | None = None,
) -> ServingFit:
    """Fit both models on every row of a cleaned frame: the models that serve."""
    algo, fit_seconds = fit_svd(data, params, rating_scale)
    factors = from_surprise(algo)
    algo_pickle = pickle.dumps(algo, protocol=pickle.HIGHEST_PROTOCOL) if include_pickle else None
    del algo
    ranker, ranking_seconds = _fit_ranking(data, ranking)
    return ServingFit(factors=factors, fit_seconds=fit_seconds, algo_pickle=algo_pickle,
                      ranking=ranker, ranking_fit_seconds=ranking_seconds)


def _result(
    held_out: HeldOutReport, serving: ServingFit, n_ratings: int, test_size: float, params: SVDParams
) -> TrainResult:
    rmse, mae = held_out.candidate.rmse, held_out.candidate.mae
    assert rmse is not None and mae is not None  # the candidate always has an SVD
    return TrainResult(
        factors=serving.factors,
        rmse=rmse,
        mae=mae,
        n_ratings=n_ratings,
        n_test=held_out.n_test,
        test_size=test_size,
        fit_seconds=serving.fit_seconds,
        params=params,
        algo_pickle=serving.algo_pickle,
        ranking=serving.ranking,
        ranking_fit_seconds=serving.ranking_fit_seconds,
        held_out=held_out,
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
    ranking: RankingParams | None = RankingParams(),  # noqa: B008 - frozen
    active: EvalModels | None = None,
) -> TrainResult:
    """Evaluate on a held-out split, then refit on all ratings for serving (one after
    the other, in this process). ``ranking=None`` trains no ranking model (the list is
    then ordered by predicted rating).

    ``rating_scale`` defaults to the lowest and highest rating in the data;
    ``split_seed`` defaults to ``params.seed``.  Raises ``NotEnoughRatings`` below
    ``min_ratings`` ratings and ``DataFormatError`` for a malformed frame.
    """
    prepared = _prepare(ratings, rating_scale, min_ratings)
    seed = params.seed if split_seed is None else split_seed
    held_out = held_out_fit(prepared.data, params, prepared.scale, test_size, seed, ranking, active)
    serving = serving_fit(prepared.data, params, prepared.scale, include_pickle, ranking)
    return _result(held_out, serving, len(prepared.data), test_size, params)


TRAINING_PROCESSES = 2  # the held-out fit and the serving fit, side by side


def training_executor(max_workers: int = TRAINING_PROCESSES,
                      background: Background | None = Background()) -> ProcessPoolExecutor:  # noqa: B008 - frozen
    """A pool for training: by default one process for the held-out fit and one for
    the serving fit.  ``spawn``: forking a process that runs an event loop and client
    threads (Faust, aiokafka) can copy held locks into the child.

    ``background`` (the default): each process runs at the lowest CPU priority with its
    BLAS threads bounded and dies with this process (:mod:`ml.background`), so a fit
    takes only the CPU that serving leaves; None: processes as the system makes them."""
    if background is None:
        return ProcessPoolExecutor(max_workers=max_workers, mp_context=multiprocessing.get_context("spawn"))
    return ProcessPoolExecutor(
        max_workers=max_workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=enter_background, initargs=(background, os.getpid()),
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
    ranking: RankingParams | None = RankingParams(),  # noqa: B008 - frozen
    active: EvalModels | None = None,
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
            pool, serving_fit, prepared.data, params, prepared.scale, include_pickle, ranking
        )
        held_out_job = loop.run_in_executor(
            pool, held_out_fit, prepared.data, params, prepared.scale, test_size, seed, ranking, active
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
