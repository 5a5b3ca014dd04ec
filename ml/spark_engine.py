"""Train a version on Apache Spark (``STREAMREC_TRAIN_ENGINE=spark``): the same
:class:`ml.train.TrainResult` as the local engine, so the gate, the store, activation
and the fan-out do not change.

What runs where:

* In Python, as the local engine does: cleaning (``ml.train._prepare``), the seeded pair
  split (``ml.dataset.pair_split``: the same held-out pairs), a global mean and damped
  user and movie biases (two bincounts a pass), and every held-out figure
  (``ml.gate.score_split`` of the candidate, the active version and popularity).
* On Spark (``pyspark.ml.recommendation.ALS``, seeded, fixed blocks): the predicted
  rating's factors, explicit ALS on the ratings' residuals after the biases, which
  become ``SVDFactors(mu, bu, bi, pu, qi)`` (serving is unchanged); and the ranking
  model's item factors, implicit ALS with every rated pair at ``r = 1`` (Spark's
  confidence ``1 + alpha·r`` is then the local iALS's ``1 + alpha``), which become
  ``RankingModel("ials", ...)`` with ``gram = YᵀY + λI``: serving folds every user in
  from their history against the item factors (``RankingModel._fold_in``), so only the
  item side and the gram cross over.

Spark's ALS is ALS-WR: a row's L2 penalty is ``regParam`` times its ratings. The local
iALS's penalty is one ``λ`` for every row, and serving folds users in with that ``λ``;
so the Spark engine passes ``λ`` divided by the mean ratings per user
(:func:`spark_reg`): a user of average activity is fitted with the penalty serving
folds them in with, and the item factors are fitted against such users. (Measured on
synthetic data of two shapes, held-out NDCG@10 against the local iALS: -0.8% at 943
users x 1,682 movies, -1.6% at 610 x 9,742; dividing by the mean ratings per movie
instead lost 37% on the first.) The explicit ALS's ``regParam``
(:data:`EXPLICIT_REG`) is per rating already.

A ranking model Spark cannot fit (EASE^R, what ``auto`` picks up to
``ease_max_movies`` movies, and PureSVD) is fitted in Python as the local engine does:
EASE's cost grows with the catalogue, not with the ratings, and is seconds at its 4,000
movies.

Frames enter Spark as Arrow tables (``createDataFrame`` of a ``pyarrow.Table``: no
Python workers, no files): the executors need no filesystem shared with the driver, so
a remote cluster works as a local one, and 25M ratings (three narrow columns) cross in
seconds. Factors come back as one Arrow table (``toArrow``), flattened into numpy.

pyspark is imported inside the functions that need it: importing this module starts
nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import importlib.util
import multiprocessing
import os
import shutil
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml.background import Background, enter_background
from ml.dataset import MIN_RATINGS, pair_split
from ml.errors import ModelError
from ml.gate import score_split
from ml.ranking import RankingModel, RankingParams, fit_ranking, interactions
from ml.scoring import F64, I64, SVDFactors
from ml.train import (
    EvalModels,
    HeldOutReport,
    ServingFit,
    SVDParams,
    TrainResult,
    _prepare,
    _result,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINE = "spark"
# Damping of the biases (Koren's baseline predictors): a movie's bias is the mean of its
# residuals shrunk as if it had this many more ratings at the global mean.
USER_DAMPING = 10.0
MOVIE_DAMPING = 25.0
BIAS_PASSES = 3
EXPLICIT_REG = 0.1  # ALS-WR's penalty per rating of the residuals' factors
EXPLICIT_ITERATIONS = 10


class SparkUnavailable(ModelError):
    """pyspark (or the Java it runs on) is not installed."""


@dataclass(frozen=True)
class SparkConfig:
    """How the trainer's SparkSession is made (``STREAMREC_SPARK_*``)."""

    master: str = "local[*]"
    app_name: str = "streamrec-trainer"
    driver_memory: str = "2g"
    executor_memory: str = "2g"
    driver_host: str = "127.0.0.1"  # where the cluster's executors reach the driver
    partitions: int = 4  # ALS's user and movie blocks, and the shuffles' partitions
    als_rank: int = 16  # the explicit ALS's factors (of the residuals after the biases)
    local_dir: str | None = None  # Spark's scratch space (shuffle files)


# --- the session: one per process, made on first use, reused, stopped at exit ----------

_lock = threading.Lock()
_session: tuple[SparkConfig, SparkSession] | None = None
_atexit_registered = threading.Event()


def require_spark() -> None:
    """Raise :class:`SparkUnavailable`, naming what to install, when pyspark or Java is
    missing (a worker on the spark engine checks at start, before any retrain)."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailable(
            "the Spark engine needs pyspark, which is not installed",
            hint="install streamrec with its spark extra: pip install -e '.[spark]' "
                 "(make install does), or set STREAMREC_TRAIN_ENGINE=local",
        )
    if shutil.which("java") is None:
        raise SparkUnavailable(
            "the Spark engine needs Java 17 or newer, which is missing",
            hint="install it: apt-get install -y openjdk-17-jre-headless "
                 "(or set STREAMREC_TRAIN_ENGINE=local)",
        )


def session(config: SparkConfig) -> SparkSession:
    """This process's SparkSession for ``config``, made on first use and reused (a
    different config stops the old one first); stopped when the process exits."""
    global _session
    with _lock:
        if _session is not None and _session[0] == config:
            return _session[1]
        if _session is not None:
            _session[1].stop()
            _session = None
        require_spark()
        from pyspark.sql import SparkSession
        builder = SparkSession.builder.master(config.master).appName(config.app_name)
        for key, value in _conf(config).items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as err:  # the JVM did not start: no Java, or a bad master URL
            raise SparkUnavailable(
                f"could not start a Spark session on {config.master}: {err}",
                hint="install Java 17 (apt-get install -y openjdk-17-jre-headless); for a "
                     "standalone cluster check STREAMREC_SPARK_MASTER (streamrec stack up --spark)",
            ) from err
        spark.sparkContext.setLogLevel("ERROR")
        if not _atexit_registered.is_set():
            atexit.register(stop_session)
            _atexit_registered.set()
        _session = (config, spark)
        return spark


def stop_session() -> None:
    """Stop this process's SparkSession, if it has one (its executors go with it)."""
    global _session
    with _lock:
        if _session is not None:
            _session[1].stop()
            _session = None


def _conf(config: SparkConfig) -> dict[str, str]:
    conf = {
        "spark.driver.memory": config.driver_memory,
        "spark.executor.memory": config.executor_memory,
        "spark.driver.host": config.driver_host,
        "spark.driver.bindAddress": config.driver_host,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",  # the driver's UI: nobody looks, and it takes a port
        "spark.sql.shuffle.partitions": str(config.partitions),
        "spark.default.parallelism": str(config.partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        # A JVM out of memory is left half dead (its scheduler thread gone) and a fit
        # waits on it for ever; exiting fails the fit instead, and the retrain with it.
        "spark.driver.extraJavaOptions": "-XX:+ExitOnOutOfMemoryError",
        "spark.executor.extraJavaOptions": "-XX:+ExitOnOutOfMemoryError",
    }
    if config.local_dir is not None:
        conf["spark.local.dir"] = config.local_dir
    return conf


# --- the models -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Coded:
    """A ratings frame as dense codes: ``user_ids[users[n]]`` rated ``movie_ids[movies[n]]``."""

    users: I64
    movies: I64
    ratings: F64
    user_ids: I64
    movie_ids: I64


def _coded(data: pd.DataFrame) -> _Coded:
    user_ids, users = np.unique(data["user_id"].to_numpy(np.int64), return_inverse=True)
    movie_ids, movies = np.unique(data["movie_id"].to_numpy(np.int64), return_inverse=True)
    return _Coded(users.astype(np.int64), movies.astype(np.int64), data["rating"].to_numpy(np.float64),
                  user_ids.astype(np.int64), movie_ids.astype(np.int64))


def biases(coded: _Coded) -> tuple[float, F64, F64]:
    """Global mean and damped user and movie biases (alternating passes of bincounts)."""
    mu = float(coded.ratings.mean())
    n_users, n_movies = len(coded.user_ids), len(coded.movie_ids)
    user_counts = np.bincount(coded.users, minlength=n_users)
    movie_counts = np.bincount(coded.movies, minlength=n_movies)
    bu, bi = np.zeros(n_users), np.zeros(n_movies)
    centred = coded.ratings - mu
    for _ in range(BIAS_PASSES):
        bi = np.bincount(coded.movies, centred - bu[coded.users], minlength=n_movies) / (
            movie_counts + MOVIE_DAMPING)
        bu = np.bincount(coded.users, centred - bi[coded.movies], minlength=n_users) / (
            user_counts + USER_DAMPING)
    return mu, bu, bi


@contextlib.contextmanager
def _closing_sockets() -> Iterator[None]:
    """pyspark leaves the local sockets an Arrow transfer used for the garbage collector,
    which warns of each (ResourceWarning): collect them here, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def _frame(spark: SparkSession, users: I64, movies: I64, values: F64) -> Any:
    import pyarrow as pa

    table = pa.table({"user": users.astype(np.int32), "movie": movies.astype(np.int32),
                      "rating": values.astype(np.float32)})
    with _closing_sockets():
        return spark.createDataFrame(table)


def _factors(frame: Any, n: int, rank: int) -> F64:
    """ALS's (id, features) frame as an ``n x rank`` array by id (read as one Arrow
    table); zero rows for ids it has no factors for."""
    import pyarrow.compute as pc

    with _closing_sockets():
        table = frame.toArrow()
    out = np.zeros((n, rank), dtype=np.float64)
    if table.num_rows:
        ids = table.column("id").to_numpy().astype(np.int64)
        values = pc.list_flatten(table.column("features")).to_numpy()
        out[ids] = values.reshape(len(ids), rank)
    return out


def _als(spark: SparkSession, config: SparkConfig, *, rank: int, iterations: int, reg: float,
         implicit: bool, alpha: float = 1.0, seed: int = 0) -> Any:
    from pyspark.ml.recommendation import ALS

    return ALS(rank=rank, maxIter=iterations, regParam=reg, implicitPrefs=implicit, alpha=alpha,
               userCol="user", itemCol="movie", ratingCol="rating", seed=seed, nonnegative=False,
               numUserBlocks=config.partitions, numItemBlocks=config.partitions,
               coldStartStrategy="nan", checkpointInterval=-1)


def fit_svd_on_spark(spark: SparkSession, config: SparkConfig, data: pd.DataFrame, params: SVDParams,
                     rating_scale: tuple[float, float]) -> SVDFactors:
    """The predicted rating: biases in numpy, then explicit ALS of ``config.als_rank``
    factors on the residuals, seeded by ``params.seed`` (Surprise's other parameters do
    not apply). Spark's normal equations cost rank² a rating in its JVM BLAS: 16 factors
    fit 100,000 ratings in a sixth of the time of 100, with a held-out RMSE as good
    (0.834 at both on synthetic data, where Surprise's 100 give 0.845)."""
    coded = _coded(data)
    mu, bu, bi = biases(coded)
    residuals = coded.ratings - mu - bu[coded.users] - bi[coded.movies]
    frame = _frame(spark, coded.users, coded.movies, residuals)
    rank = config.als_rank
    model = _als(spark, config, rank=rank, iterations=EXPLICIT_ITERATIONS, reg=EXPLICIT_REG,
                 implicit=False, seed=params.seed).fit(frame)
    return SVDFactors(mu=mu, bu=bu, bi=bi,
                      pu=_factors(model.userFactors, len(coded.user_ids), rank),
                      qi=_factors(model.itemFactors, len(coded.movie_ids), rank),
                      user_ids=coded.user_ids, movie_ids=coded.movie_ids,
                      rating_scale=rating_scale)


def spark_reg(params: RankingParams, ratings: int, users: int) -> float:
    """Spark's ``regParam`` for the local iALS's ``λ``: Spark penalises a row by
    ``regParam`` times its ratings, so a user of average activity gets ``λ``."""
    return params.ials_regularization * users / max(ratings, 1)


def fit_ranking_on_spark(spark: SparkSession, config: SparkConfig, data: pd.DataFrame,
                         params: RankingParams) -> RankingModel:
    """The ranking model: implicit ALS on Spark when ``params`` resolve to iALS, else
    the local fit (EASE^R, PureSVD)."""
    matrix, _, movie_ids = interactions(data)
    if params.resolve(len(movie_ids)) != "ials":
        return fit_ranking(data, params)
    counts = np.asarray(matrix.getnnz(axis=0), dtype=np.float32)
    popularity = counts / max(float(counts.max(initial=0.0)), 1.0)
    coo = matrix.tocoo()
    rank = max(1, min(params.ials_factors, min(matrix.shape)))
    frame = _frame(spark, coo.row.astype(np.int64), coo.col.astype(np.int64),
                   np.ones(matrix.nnz, dtype=np.float64))
    model = _als(spark, config, rank=rank, iterations=params.ials_iterations,
                 reg=spark_reg(params, matrix.nnz, matrix.shape[0]), implicit=True,
                 alpha=params.ials_alpha).fit(frame)
    items = _factors(model.itemFactors, len(movie_ids), rank).astype(np.float32)
    gram = items.T.astype(np.float64) @ items.astype(np.float64)
    gram[np.diag_indices_from(gram)] += params.ials_regularization
    return RankingModel("ials", movie_ids, items, params, popularity, gram)


# --- a version --------------------------------------------------------------------------

def fit_or_exit(*args: Any) -> tuple[HeldOutReport, ServingFit]:
    """:func:`fit_on_spark` in the engine's process; a failure ends the process. Py4J's
    errors hold locks and cannot be sent back, and after a failed fit (a JVM that ran
    out of memory, a lost cluster) the session and its gateway are not to be trusted:
    the traceback goes to the worker's log, the worker's call fails with a broken
    pool, and the next retrain starts a fresh process and session."""
    try:
        return fit_on_spark(*args)
    except (SparkUnavailable, ModelError):
        raise  # streamrec's own, sent back as they are (no session was harmed)
    except BaseException:
        print("the spark engine's fit failed; its process exits:", file=sys.stderr)
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def fit_on_spark(
    data: pd.DataFrame,
    params: SVDParams,
    rating_scale: tuple[float, float],
    test_size: float,
    split_seed: int,
    ranking: RankingParams | None,
    active: EvalModels | None,
    config: SparkConfig,
) -> tuple[HeldOutReport, ServingFit]:
    """The held-out fit (scored as ``ml.train.held_out_fit`` scores it) and the serving
    fit of a cleaned frame, one after the other on this process's session."""
    spark = session(config)
    train, test = pair_split(data, test_size=test_size, seed=split_seed)
    factors = fit_svd_on_spark(spark, config, train, params, rating_scale)
    ranker = fit_ranking_on_spark(spark, config, train, ranking) if ranking is not None else None
    held_out = HeldOutReport(
        candidate=score_split(factors, ranker, train, test),
        active=score_split(active.svd, active.ranking, train, test) if active else None,
        popularity=score_split(None, None, train, test),
        models=EvalModels(factors, ranker),
        n_test=len(test),
    )
    started = time.perf_counter()
    serving = fit_svd_on_spark(spark, config, data, params, rating_scale)
    fit_seconds = time.perf_counter() - started
    serving_ranker, ranking_seconds = None, 0.0
    if ranking is not None:
        started = time.perf_counter()
        serving_ranker = fit_ranking_on_spark(spark, config, data, ranking)
        ranking_seconds = time.perf_counter() - started
    return held_out, ServingFit(factors=serving, fit_seconds=fit_seconds, algo_pickle=None,
                                ranking=serving_ranker, ranking_fit_seconds=ranking_seconds)


def train_model_on_spark(
    ratings: pd.DataFrame,
    params: SVDParams = SVDParams(),  # noqa: B008 - frozen
    *,
    config: SparkConfig = SparkConfig(),
    test_size: float = 0.2,
    split_seed: int | None = None,
    rating_scale: tuple[float, float] | None = None,
    min_ratings: int = MIN_RATINGS,
    ranking: RankingParams | None = RankingParams(),  # noqa: B008 - frozen
    active: EvalModels | None = None,
) -> TrainResult:
    """:func:`ml.train.train_model` on Spark, in this process (its session)."""
    prepared = _prepare(ratings, rating_scale, min_ratings)
    seed = params.seed if split_seed is None else split_seed
    held_out, serving = fit_on_spark(prepared.data, params, prepared.scale, test_size, seed, ranking,
                                     active, config)
    return replace(_result(held_out, serving, len(prepared.data), test_size, params), engine=ENGINE)


class SparkTrainer:
    """The Spark engine of a worker: one training process (spawned on first use, at the
    training processes' priority, :mod:`ml.background`) holds the SparkSession, so the
    driver's JVM and the factors it returns stay out of the worker, the session is made
    once and reused by every retrain, and it stops when the process does (the worker's
    shutdown, or its death: the process dies with it, and the JVM with the process)."""

    def __init__(self, config: SparkConfig, background: Background | None = Background()) -> None:  # noqa: B008
        self.config = config
        self._background = background
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is not None and getattr(self._pool, "_broken", False):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            if self._background is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
            else:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context,
                                                 initializer=enter_background,
                                                 initargs=(self._background, os.getpid()))
        return self._pool

    async def train(
        self,
        ratings: pd.DataFrame,
        params: SVDParams = SVDParams(),  # noqa: B008 - frozen
        *,
        test_size: float = 0.2,
        split_seed: int | None = None,
        rating_scale: tuple[float, float] | None = None,
        min_ratings: int = MIN_RATINGS,
        ranking: RankingParams | None = RankingParams(),  # noqa: B008 - frozen
        active: EvalModels | None = None,
    ) -> TrainResult:
        """:func:`ml.train.train_in_process` on Spark: cleaned here (in a thread;
        ``NotEnoughRatings`` is raised before Spark is involved), fitted in the engine's
        process. No Surprise pickle: there is no Surprise model."""
        prepared = await asyncio.to_thread(_prepare, ratings, rating_scale, min_ratings)
        seed = params.seed if split_seed is None else split_seed
        loop = asyncio.get_running_loop()
        held_out, serving = await loop.run_in_executor(
            self._executor(), fit_or_exit, prepared.data, params, prepared.scale, test_size, seed,
            ranking, active, self.config)
        return replace(_result(held_out, serving, len(prepared.data), test_size, params), engine=ENGINE)

    def close(self) -> None:
        """Stop the engine's process (its session stops with it)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
