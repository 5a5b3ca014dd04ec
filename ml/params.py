"""The settings' model parameters as ml/ takes them.

ml/ never reads settings itself: :func:`svd_params` and :func:`ranking_params` take
anything with the settings' ``svd_*`` / ``ranking_*`` fields (the settings object, in
practice), so ml/ does not import infra/.
"""

from __future__ import annotations

from typing import Protocol

from ml.background import Background
from ml.ranking import Kind, RankingParams
from ml.train import SVDParams


class SVDSettings(Protocol):
    """The fields of the settings object that configure the SVD."""

    @property
    def svd_factors(self) -> int: ...
    @property
    def svd_epochs(self) -> int: ...
    @property
    def svd_lr(self) -> float: ...
    @property
    def svd_reg(self) -> float: ...
    @property
    def svd_seed(self) -> int: ...


class RankingSettings(Protocol):
    """The fields of the settings object that configure the ranking model."""

    @property
    def ranking_model(self) -> Kind: ...
    @property
    def ranking_ease_lambda(self) -> float: ...
    @property
    def ranking_ease_max_movies(self) -> int: ...
    @property
    def ranking_factors(self) -> int: ...
    @property
    def ranking_ials_factors(self) -> int: ...
    @property
    def ranking_ials_regularization(self) -> float: ...
    @property
    def ranking_ials_alpha(self) -> float: ...
    @property
    def ranking_ials_iterations(self) -> int: ...


def ranking_params(settings: RankingSettings) -> RankingParams:
    return RankingParams(kind=settings.ranking_model, ease_lambda=settings.ranking_ease_lambda,
                         ease_max_movies=settings.ranking_ease_max_movies, factors=settings.ranking_factors,
                         ials_factors=settings.ranking_ials_factors,
                         ials_regularization=settings.ranking_ials_regularization,
                         ials_alpha=settings.ranking_ials_alpha,
                         ials_iterations=settings.ranking_ials_iterations)


def svd_params(settings: SVDSettings) -> SVDParams:
    return SVDParams(n_factors=settings.svd_factors, n_epochs=settings.svd_epochs,
                     lr_all=settings.svd_lr, reg_all=settings.svd_reg, seed=settings.svd_seed)


class TrainingProcessSettings(Protocol):
    """The fields of the settings object that say how training processes run."""

    @property
    def training_nice(self) -> int: ...
    @property
    def training_idle(self) -> bool: ...
    @property
    def training_blas_threads(self) -> int: ...


def background_params(settings: TrainingProcessSettings) -> Background:
    return Background(nice=settings.training_nice, idle=settings.training_idle,
                      blas_threads=settings.training_blas_threads)
