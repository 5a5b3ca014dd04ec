"""The settings' model parameters as ml/ takes them.

ml/ never reads settings itself: :func:`svd_params` takes anything with the settings'
``svd_*`` fields (the settings object, in practice), so ml/ does not import infra/.
"""

from __future__ import annotations

from typing import Protocol

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


def svd_params(settings: SVDSettings) -> SVDParams:
    return SVDParams(n_factors=settings.svd_factors, n_epochs=settings.svd_epochs,
                     lr_all=settings.svd_lr, reg_all=settings.svd_reg, seed=settings.svd_seed)
