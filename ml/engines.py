"""Which engine fits a version (``STREAMREC_TRAIN_ENGINE``): ``local``, the worker's
two training processes (:func:`ml.train.train_in_process`), or ``spark``, ALS on
Apache Spark (:class:`ml.spark_engine.SparkTrainer`). Both return the same
:class:`ml.train.TrainResult`, so what follows a fit (gate, store, activation,
fan-out) does not know which made it, except by its ``engine`` field.

Like :mod:`ml.params`, this takes anything with the settings' fields, so ml/ does not
import infra/.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Literal, Protocol

import pandas as pd

from ml.background import Background
from ml.dataset import MIN_RATINGS
from ml.params import TrainingProcessSettings, background_params
from ml.ranking import RankingParams
from ml.spark_engine import SparkConfig, SparkTrainer
from ml.train import EvalModels, SVDParams, TrainResult, train_in_process


class EngineSettings(TrainingProcessSettings, Protocol):
    """The fields of the settings object that choose and configure the engine."""

    @property
    def train_engine(self) -> Literal["local", "spark"]: ...
    @property
    def spark_master(self) -> str: ...
    @property
    def spark_driver_host(self) -> str: ...
    @property
    def spark_driver_memory(self) -> str: ...
    @property
    def spark_executor_memory(self) -> str: ...
    @property
    def spark_partitions(self) -> int: ...
    @property
    def spark_als_rank(self) -> int: ...
    @property
    def home(self) -> Path: ...


class Train(Protocol):
    """A training engine: :func:`ml.train.train_in_process`'s arguments and result."""

    def __call__(
        self,
        ratings: pd.DataFrame,
        params: SVDParams = ...,
        *,
        test_size: float = ...,
        split_seed: int | None = ...,
        rating_scale: tuple[float, float] | None = ...,
        min_ratings: int = ...,
        ranking: RankingParams | None = ...,
        active: EvalModels | None = ...,
    ) -> Awaitable[TrainResult]: ...


def spark_config(settings: EngineSettings) -> SparkConfig:
    return SparkConfig(master=settings.spark_master, driver_memory=settings.spark_driver_memory,
                       executor_memory=settings.spark_executor_memory,
                       driver_host=settings.spark_driver_host, partitions=settings.spark_partitions,
                       als_rank=settings.spark_als_rank,
                       local_dir=str(settings.home.resolve() / "spark" / "scratch"))


@functools.cache
def spark_trainer(config: SparkConfig, background: Background) -> SparkTrainer:
    """The process's Spark engine for ``config`` (one training process and one session,
    made on first use and kept while this process lives)."""
    return SparkTrainer(config, background)


def train_engine(settings: EngineSettings, local_pool: Callable[[], ProcessPoolExecutor]) -> Train:
    """The engine the settings name; ``local_pool`` gives the local engine's pool (called
    only when that engine trains)."""
    if settings.train_engine == "spark":
        return spark_trainer(spark_config(settings), background_params(settings)).train

    async def local(
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
        return await train_in_process(ratings, params, test_size=test_size, split_seed=split_seed,
                                      rating_scale=rating_scale, min_ratings=min_ratings,
                                      executor=local_pool(), ranking=ranking, active=active)

    return local
