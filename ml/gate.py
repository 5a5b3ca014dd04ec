"""The activation gate: a candidate against the active model and popularity, on one split.

Every figure compared is measured on the *same* held-out split (the candidate's, by
:func:`ml.dataset.pair_split`), by models that never saw its test pairs: the candidate's
and the active version's held-out fits (each version stores its held-out fit for this).
RMSEs or NDCGs measured on different data are not comparable: after a burst of noisy
ratings every new model looks worse than the old one did on its old data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ml.metrics import RELEVANT_RATING, held_out_accuracy, popularity_top_k, ranking_metrics
from ml.ranking import RankingModel, rank
from ml.scoring import SVDFactors
from ml.topk import RatedPairs, TopK, recommend

K = 10


@dataclass(frozen=True)
class SplitScores:
    """One model's figures on one split: its rating predictions and its list."""

    rmse: float | None
    mae: float | None
    ndcg: float
    precision: float
    recall: float
    coverage: float

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def served_list(svd: SVDFactors, ranking: RankingModel | None, users: np.ndarray, rated: RatedPairs,
                candidates: np.ndarray, k: int = K) -> TopK:
    """The list a version serves: by its ranking model, or (a version without one) by
    SVD's predicted rating."""
    if ranking is not None:
        return rank(ranking, users, k=k, rated=rated, candidates=candidates)
    return recommend(svd, users, k=k, rated=rated, catalogue=candidates)


def score_split(svd: SVDFactors | None, ranking: RankingModel | None, train: pd.DataFrame,
                test: pd.DataFrame, k: int = K) -> SplitScores:
    """A model's figures on (train, test): users' histories are their training ratings,
    candidates every movie of the training part they did not rate."""
    users = np.unique(test.loc[test["rating"] >= RELEVANT_RATING, "user_id"].to_numpy(np.int64))
    candidates = np.unique(train["movie_id"].to_numpy(np.int64))
    rated = RatedPairs.from_frame(train)
    if svd is None and ranking is None:
        top = popularity_top_k(train, users, k=k)
    elif svd is None:
        assert ranking is not None
        top = rank(ranking, users, k=k, rated=rated, candidates=candidates)
    else:
        top = served_list(svd, ranking, users, rated, candidates, k)
    listed = ranking_metrics(top, test, k=k, n_candidates=len(candidates))
    accuracy = held_out_accuracy(svd, test) if svd is not None else None
    return SplitScores(
        rmse=accuracy.rmse if accuracy else None, mae=accuracy.mae if accuracy else None,
        ndcg=listed.ndcg, precision=listed.precision, recall=listed.recall,
        coverage=listed.coverage,
    )


@dataclass(frozen=True)
class Decision:
    activate: bool
    text: str


@dataclass(frozen=True)
class Tolerances:
    rmse: float = 0.01  # the candidate's RMSE may exceed the active one's by this
    ndcg: float = 0.005  # and its NDCG@10 fall short of it by this


def decide(candidate: SplitScores, active: SplitScores | None, popularity: SplitScores,
           tolerances: Tolerances = Tolerances()) -> Decision:
    """Activate when the candidate's list beats popularity and, against an active model
    scored on the same split, its RMSE and NDCG@10 are no worse beyond the tolerances."""
    c_rmse = candidate.rmse if candidate.rmse is not None else float("nan")
    figures = f"rmse {c_rmse:.4f}, ndcg@10 {candidate.ndcg:.4f}"
    if candidate.ndcg <= popularity.ndcg:
        return Decision(False, f"not activated: {figures}; the list is no better than popularity's "
                               f"ndcg@10 {popularity.ndcg:.4f}")
    if active is None:
        return Decision(True, f"activated: first model ({figures}; popularity {popularity.ndcg:.4f})")
    a_rmse = active.rmse if active.rmse is not None else float("inf")
    versus = f"active on the same split: rmse {a_rmse:.4f}, ndcg@10 {active.ndcg:.4f}"
    if c_rmse > a_rmse + tolerances.rmse:
        return Decision(False, f"not activated: {figures}; rmse worse than the {versus} "
                               f"(+{tolerances.rmse})")
    if candidate.ndcg < active.ndcg - tolerances.ndcg:
        return Decision(False, f"not activated: {figures}; ndcg@10 worse than the {versus} "
                               f"(-{tolerances.ndcg})")
    return Decision(True, f"activated: {figures}; {versus}; popularity {popularity.ndcg:.4f}")
