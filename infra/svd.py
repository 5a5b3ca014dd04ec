"""The settings' SVD parameters as ml/ takes them (ml/ never reads settings itself)."""

from __future__ import annotations

from infra.settings import Settings
from ml.train import SVDParams


def svd_params(settings: Settings) -> SVDParams:
    return SVDParams(n_factors=settings.svd_factors, n_epochs=settings.svd_epochs,
                     lr_all=settings.svd_lr, reg_all=settings.svd_reg, seed=settings.svd_seed)
