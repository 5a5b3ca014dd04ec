"""Hyper-parameter search on a validation part of the training data, within a budget.

The data is pair-split as the trainer splits it; the test part is set aside and never
looked at while searching. The training part is pair-split again (another seed) into a
fitting part and a validation part; every candidate is fitted on the first and scored
on the second: SVD candidates by RMSE, ranking candidates by NDCG@10. The winners are
then scored once on the test part, so the figures reported are honest.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ml.dataset import clean_ratings, pair_split, rating_scale_of
from ml.gate import score_split
from ml.metrics import held_out_accuracy
from ml.ranking import RankingParams, fit_ranking
from ml.scoring import from_surprise
from ml.train import SVDParams, fit_svd

VALIDATION_SEED_OFFSET = 7919  # another split of the training part than the test split's

SVD_GRID: dict[str, tuple[float, ...]] = {
    "lr_all": (0.005, 0.01, 0.02), "reg_all": (0.02, 0.05, 0.1), "n_factors": (50, 100)}
EASE_LAMBDAS = (100.0, 250.0, 500.0, 1000.0, 2000.0)
PURESVD_FACTORS = (16, 32, 64, 128)
# (factors, regularization, alpha): the defaults' neighbourhood first, then wider.
IALS_GRID = ((32, 50.0, 3.0), (32, 80.0, 3.0), (32, 30.0, 3.0), (64, 50.0, 3.0), (32, 20.0, 1.0),
             (64, 100.0, 5.0), (32, 50.0, 10.0), (16, 10.0, 2.0))


@dataclass(frozen=True)
class Trial:
    model: str  # "svd" | "ranking"
    params: dict[str, Any]
    figure: str  # "rmse" (lower is better) | "ndcg_at_10" (higher is better)
    value: float
    seconds: float


@dataclass(frozen=True)
class TuneResult:
    trials: list[Trial]
    best_svd: SVDParams
    best_ranking: RankingParams
    test: dict[str, float]  # the winners on the test part
    stopped_by_budget: bool


def _svd_candidates(base: SVDParams) -> Iterator[SVDParams]:
    yield base
    for lr, reg, factors in itertools.product(*SVD_GRID.values()):
        candidate = dataclasses.replace(base, lr_all=lr, reg_all=reg, n_factors=int(factors))
        if candidate != base:
            yield candidate


def _ranking_candidates(base: RankingParams, n_movies: int) -> Iterator[RankingParams]:
    yield base
    if n_movies <= base.ease_max_movies:
        for lam in EASE_LAMBDAS:
            yield dataclasses.replace(base, kind="ease", ease_lambda=lam)
    for factors, reg, alpha in IALS_GRID:
        yield dataclasses.replace(base, kind="ials", ials_factors=factors, ials_regularization=reg,
                                  ials_alpha=alpha)
    for factors in PURESVD_FACTORS:
        yield dataclasses.replace(base, kind="puresvd", factors=factors)


def tune(ratings: pd.DataFrame, svd: SVDParams, ranking: RankingParams, *, budget_s: float,
         test_size: float = 0.2, seed: int = 0) -> TuneResult:
    """Search around ``svd`` and ``ranking`` (each first tried as given) until
    ``budget_s`` is spent; ranking candidates and SVD candidates alternate so both
    searches progress within any budget."""
    data = clean_ratings(ratings)
    scale = rating_scale_of(data)
    train, test = pair_split(data, test_size=test_size, seed=seed)
    fit, validation = pair_split(train, test_size=test_size, seed=seed + VALIDATION_SEED_OFFSET)
    deadline = time.monotonic() + budget_s
    trials: list[Trial] = []
    best_svd: tuple[float, SVDParams] | None = None
    best_rank: tuple[float, RankingParams] | None = None
    searches = itertools.zip_longest(_ranking_candidates(ranking, fit["movie_id"].nunique()),
                                     _svd_candidates(svd))
    stopped = False
    for rank_params, svd_params in searches:
        if time.monotonic() > deadline and best_svd and best_rank:
            stopped = True
            break
        if rank_params is not None:
            started = time.perf_counter()
            ndcg = score_split(None, fit_ranking(fit, rank_params), fit, validation).ndcg
            trials.append(Trial("ranking", rank_params.as_dict(), "ndcg_at_10", ndcg,
                                time.perf_counter() - started))
            if best_rank is None or ndcg > best_rank[0]:
                best_rank = (ndcg, rank_params)
        if svd_params is not None:
            started = time.perf_counter()
            algo, _ = fit_svd(fit, svd_params, scale)
            rmse = held_out_accuracy(from_surprise(algo), validation).rmse
            trials.append(Trial("svd", svd_params.as_dict(), "rmse", rmse, time.perf_counter() - started))
            if best_svd is None or rmse < best_svd[0]:
                best_svd = (rmse, svd_params)
    assert best_svd is not None and best_rank is not None  # the first pair always runs
    algo, _ = fit_svd(train, best_svd[1], scale)
    final = score_split(from_surprise(algo), fit_ranking(train, best_rank[1]), train, test)
    popularity = score_split(None, None, train, test)
    return TuneResult(trials, best_svd[1], best_rank[1],
                      {"rmse": float(final.rmse or 0.0), "ndcg_at_10": final.ndcg,
                       "baseline_ndcg_at_10": popularity.ndcg}, stopped)


def as_settings(result: TuneResult) -> dict[str, str]:
    """The winners as ``STREAMREC_*`` variables (the settings file the worker reads)."""
    svd, rank = result.best_svd, result.best_ranking
    return {
        "STREAMREC_SVD_FACTORS": str(svd.n_factors), "STREAMREC_SVD_LR": repr(svd.lr_all),
        "STREAMREC_SVD_REG": repr(svd.reg_all), "STREAMREC_SVD_EPOCHS": str(svd.n_epochs),
        # EASE stays "auto": a catalogue grown past the threshold must switch to iALS.
        "STREAMREC_RANKING_MODEL": "auto" if rank.kind == "ease" else rank.kind,
        "STREAMREC_RANKING_EASE_LAMBDA": repr(rank.ease_lambda),
        "STREAMREC_RANKING_FACTORS": str(rank.factors),
        "STREAMREC_RANKING_IALS_FACTORS": str(rank.ials_factors),
        "STREAMREC_RANKING_IALS_REGULARIZATION": repr(rank.ials_regularization),
        "STREAMREC_RANKING_IALS_ALPHA": repr(rank.ials_alpha),
        "STREAMREC_RANKING_IALS_ITERATIONS": str(rank.ials_iterations),
    }
