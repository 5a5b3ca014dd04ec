"""New-user fold-in: factors for a user the model has not seen, item factors fixed.

For a user with a few ratings ``r_i`` the bias ``b_u`` and factors ``p_u`` that
minimise ``sum_i (r_i - mu - b_i - b_u - p_u·q_i)^2 + reg * (b_u^2 + |p_u|^2)`` have a
closed form (ridge regression on ``[1, q_i]``), so a new user gets personalised
suggestions before the next retrain.  :func:`measure_fold_in` compares this with
the popular-movies fallback on users held out of training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.dataset import clean_ratings, rating_scale_of
from ml.metrics import popularity_top_k, ranking_metrics
from ml.ranking import RankingParams, fit_ranking, rank
from ml.scoring import F64, I64, SVDFactors, as_ids, candidate_movies, from_surprise
from ml.topk import RatedPairs, TopK, rank_top_k
from ml.train import SVDParams, fit_svd

# Closed-form ridge needs a much stronger penalty than SGD's per-step reg_all=0.02:
# with 5 ratings and 100 factors the system is otherwise badly under-determined.
DEFAULT_FOLD_IN_REG = 5.0


@dataclass(frozen=True, eq=False)
class FoldedUser:
    """A user's bias and factors, solved against fixed item factors."""

    user_id: int
    bu: float
    pu: F64
    n_ratings: int  # ratings of movies the model knows (the others cannot inform p_u)


def fold_in(
    factors: SVDFactors,
    user_id: int,
    movie_ids: npt.ArrayLike,
    ratings: npt.ArrayLike,
    *,
    reg: float = DEFAULT_FOLD_IN_REG,
) -> FoldedUser:
    """Solve ``b_u`` and ``p_u`` for one user from their (movie, rating) pairs."""
    movies = as_ids(movie_ids)
    values = np.asarray(ratings, dtype=np.float64).reshape(-1)
    if movies.shape != values.shape:
        raise ValueError(f"{len(movies)} movie ids but {len(values)} ratings")
    idx = factors.movie_index(movies)
    known = idx >= 0
    idx, values = idx[known], values[known]
    k = factors.n_factors
    if len(idx) == 0:
        return FoldedUser(int(user_id), 0.0, np.zeros(k), 0)
    x = np.hstack([np.ones((len(idx), 1)), factors.qi[idx]])
    y = values - factors.mu - factors.bi[idx]
    w = np.linalg.solve(x.T @ x + reg * np.eye(k + 1), x.T @ y).astype(np.float64)
    return FoldedUser(int(user_id), float(w[0]), w[1:].copy(), len(idx))


def score_folded(factors: SVDFactors, users: list[FoldedUser], movie_ids: I64) -> F64:
    """Clipped ``mu + b_u + b_i + p_u·q_i`` for folded-in users (rows) and movies."""
    m_idx = factors.movie_index(movie_ids)
    known = m_idx >= 0
    bi = np.where(known, factors.bi[np.maximum(m_idx, 0)], 0.0)
    qi = np.where(known[:, None], factors.qi[np.maximum(m_idx, 0)], 0.0)
    bu = np.array([u.bu for u in users], dtype=np.float64)
    pu = (
        np.vstack([u.pu for u in users]) if users else np.zeros((0, factors.n_factors))
    )
    scores = np.add.outer(factors.mu + bu, bi)
    scores += pu @ qi.T
    return np.clip(scores, *factors.rating_scale, out=scores)


def recommend_folded(
    factors: SVDFactors,
    users: list[FoldedUser],
    *,
    k: int = 50,
    rated: RatedPairs | None = None,
    catalogue: npt.ArrayLike | None = None,
) -> TopK:
    """Top ``k`` for folded-in users, as :func:`ml.topk.recommend` does for known ones."""
    by_id = {u.user_id: u for u in users}

    def block(user_ids: I64, movies: I64) -> F64:
        return score_folded(factors, [by_id[int(u)] for u in user_ids.tolist()], movies)

    return rank_top_k(
        block,
        np.array(list(by_id), dtype=np.int64),
        candidate_movies(factors, catalogue),
        k=k,
        rated=rated,
    )


def measure_fold_in(
    ratings: pd.DataFrame,
    params: SVDParams = SVDParams(),  # noqa: B008 - frozen
    *,
    new_user_fraction: float = 0.1,
    given: int = 5,
    seed: int = 0,
    reg: float = DEFAULT_FOLD_IN_REG,
    k: int = 10,
) -> dict[str, Any]:
    """Hold some users out of training, fold each in from ``given`` of their ratings,
    and score the rest: RMSE against Surprise's unknown-user estimate (``mu + b_i``)
    and precision/recall@k against the popular-movies fallback."""
    data = clean_ratings(ratings)
    rng = np.random.default_rng(seed)
    users = np.unique(data["user_id"].to_numpy())
    counts = data["user_id"].value_counts()
    eligible = users[counts.reindex(users).to_numpy() > given]
    new = rng.choice(eligible, max(1, int(len(users) * new_user_fraction)), replace=False)
    is_new = data["user_id"].isin(new).to_numpy()
    train = data[~is_new]
    held = data[is_new].sample(frac=1.0, random_state=seed)  # shuffled, then split per user
    rank_in_user = held.groupby("user_id").cumcount().to_numpy()
    shown, hidden = held[rank_in_user < given], held[rank_in_user >= given]

    algo, _ = fit_svd(train, params, rating_scale_of(data))
    factors = from_surprise(algo)
    folded = [
        fold_in(factors, int(g["user_id"].iloc[0]), g["movie_id"], g["rating"], reg=reg)
        for _, g in shown.groupby("user_id")
    ]
    row = {u.user_id: i for i, u in enumerate(folded)}
    movies = hidden["movie_id"].to_numpy(np.int64)
    all_scores = score_folded(factors, folded, np.unique(movies))
    col = np.searchsorted(np.unique(movies), movies)
    est = all_scores[[row[int(u)] for u in hidden["user_id"].tolist()], col]
    m_idx = factors.movie_index(movies)
    fallback = np.clip(
        factors.mu + np.where(m_idx >= 0, factors.bi[np.maximum(m_idx, 0)], 0.0),
        *factors.rating_scale,
    )
    truth = hidden["rating"].to_numpy(np.float64)
    rated = RatedPairs.from_frame(shown)
    personal = ranking_metrics(recommend_folded(factors, folded, k=k, rated=rated), hidden, k=k)
    popular_top = popularity_top_k(pd.concat([train, shown]), np.array(list(row)), k=k)
    popular = ranking_metrics(popular_top, hidden, k=k)
    return {
        "new_users": len(folded),
        "given": given,
        "hidden_ratings": len(hidden),
        "fold_in_rmse": float(np.sqrt(np.mean((est - truth) ** 2))),
        "unknown_user_rmse": float(np.sqrt(np.mean((fallback - truth) ** 2))),
        f"fold_in_precision_at_{k}": personal.precision,
        f"popular_precision_at_{k}": popular.precision,
        f"fold_in_recall_at_{k}": personal.recall,
        f"popular_recall_at_{k}": popular.recall,
    }


def measure_realtime_lists(
    ratings: pd.DataFrame,
    ranking: RankingParams = RankingParams(),  # noqa: B008 - frozen
    *,
    new_user_fraction: float = 0.1,
    reveals: tuple[int, ...] = (1, 3, 5, 10),
    seed: int = 0,
    k: int = 10,
) -> dict[str, Any]:
    """The speed layer's lists for users the model never saw, after ``n`` ratings.

    Some users (with more ratings than the largest ``n``) are held out of the fit; each
    shows its first ``n`` ratings (in a random order) and is scored on the rest. NDCG@k
    of the realtime list (the fitted model scoring the ``n``-rating history) against
    popularity's, and against a full retrain that saw those ``n`` ratings too."""
    data = clean_ratings(ratings)
    rng = np.random.default_rng(seed)
    counts = data["user_id"].value_counts()
    eligible = counts.index[counts > max(reveals)].to_numpy(np.int64)
    n_new = max(1, int(data["user_id"].nunique() * new_user_fraction))
    new = rng.choice(eligible, min(n_new, len(eligible)), replace=False)
    is_new = data["user_id"].isin(new).to_numpy()
    train = data[~is_new]
    held = data[is_new].sample(frac=1.0, random_state=seed)
    order_in_user = held.groupby("user_id").cumcount().to_numpy()
    model = fit_ranking(train, ranking)
    rows: dict[str, dict[str, float]] = {}
    for n in reveals:
        shown, hidden = held[order_in_user < n], held[order_in_user >= n]
        users = np.unique(shown["user_id"].to_numpy(np.int64))
        rated = RatedPairs.from_frame(shown)
        candidates = model.movie_ids
        realtime = ranking_metrics(rank(model, users, k=k, rated=rated, candidates=candidates),
                                   hidden, k=k)
        retrained = fit_ranking(pd.concat([train, shown]), ranking)
        full = ranking_metrics(rank(retrained, users, k=k, rated=rated, candidates=candidates),
                               hidden, k=k)
        popular = ranking_metrics(popularity_top_k(pd.concat([train, shown]), users, k=k), hidden, k=k)
        rows[str(n)] = {"realtime_ndcg": realtime.ndcg, "full_retrain_ndcg": full.ndcg,
                        "popular_ndcg": popular.ndcg}
    return {"new_users": len(new), "kind": model.kind, "after_ratings": rows}
