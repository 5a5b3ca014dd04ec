"""The hyper-parameter search: within its budget, on validation data, winners reported."""

from __future__ import annotations

from ml.ranking import RankingParams
from ml.synthetic import generate
from ml.train import SVDParams
from ml.tune import as_settings, tune


def test_the_search_stops_at_its_budget_and_reports_the_winners() -> None:
    ratings = generate(200, 100, 5000, seed=2).ratings
    base = SVDParams(n_factors=5, n_epochs=3)
    result = tune(ratings, base, RankingParams(), budget_s=0.0)
    assert result.stopped_by_budget
    # The first pair (the given parameters) always runs; then the budget stops it.
    assert [t.model for t in result.trials] == ["ranking", "svd"]
    assert result.best_svd == base
    assert 0 < result.test["ndcg_at_10"] <= 1 and result.test["rmse"] > 0
    written = as_settings(result)
    assert written["STREAMREC_SVD_FACTORS"] == "5" and written["STREAMREC_RANKING_MODEL"] == "auto"


def test_more_budget_tries_more_and_keeps_the_best() -> None:
    ratings = generate(200, 100, 5000, seed=2).ratings
    result = tune(ratings, SVDParams(n_factors=5, n_epochs=3), RankingParams(), budget_s=3.0)
    ranking = [t for t in result.trials if t.model == "ranking"]
    svd = [t for t in result.trials if t.model == "svd"]
    assert len(ranking) > 1 and len(svd) > 1
    assert max(t.value for t in ranking) == next(
        t.value for t in ranking if t.params == result.best_ranking.as_dict())
    assert min(t.value for t in svd) == next(t.value for t in svd if t.params == result.best_svd.as_dict())
