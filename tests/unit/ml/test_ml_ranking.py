"""The ranking models, the pair split, NDCG and the activation gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.dataset import clean_ratings, in_test_part, pair_split
from ml.foldin import measure_realtime_lists
from ml.gate import SplitScores, Tolerances, decide, score_split
from ml.metrics import ranking_metrics
from ml.ranking import RankingModel, RankingParams, fit_ranking, interactions, rank, similar_movies
from ml.synthetic import generate
from ml.topk import RatedPairs, TopK


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return clean_ratings(generate(300, 120, 9000, seed=4).ratings)


@pytest.mark.parametrize("kind", ["ease", "ials", "puresvd"])
def test_lists_exclude_rated_and_unknown_movies(ratings: pd.DataFrame, kind: str) -> None:
    model = fit_ranking(ratings, RankingParams(kind=kind, factors=8, ials_factors=8))  # type: ignore[arg-type]
    assert model.kind == kind
    users = np.array([1, 2, 3])
    rated = RatedPairs.from_frame(ratings)
    unknown = int(ratings["movie_id"].max()) + 1
    top = rank(model, users, k=20, rated=rated, candidates=[*model.movie_ids.tolist(), unknown])
    seen = set(zip(ratings["user_id"], ratings["movie_id"], strict=True))
    assert len(top) == 60
    assert not any((u, m) in seen for u, m in zip(top.user_ids.tolist(), top.movie_ids.tolist(), strict=True))
    assert unknown not in top.movie_ids
    for user in users:
        values = top.for_user(int(user))[1]
        assert np.all(np.diff(values) <= 0), "best first"


def test_ease_is_steck_closed_form(ratings: pd.DataFrame) -> None:
    # B = I - P diag(1 / diag(P)), P = (X'X + lambda I)^-1 (Steck 2019), from a plain inverse.
    matrix, _, _ = interactions(ratings)
    gram = (matrix.T @ matrix).toarray().astype(np.float64) + 50.0 * np.eye(matrix.shape[1])
    inverse = np.linalg.inv(gram)
    expected = np.eye(len(gram)) - inverse / np.diag(inverse)[None, :]
    model = fit_ranking(ratings, RankingParams(kind="ease", ease_lambda=50.0))
    assert np.allclose(model.weights, expected, atol=1e-6)


def test_ease_has_a_zero_diagonal_and_round_trips(ratings: pd.DataFrame) -> None:
    model = fit_ranking(ratings, RankingParams(kind="ease", ease_lambda=50.0))
    assert np.allclose(np.diag(model.weights), 0.0)
    again = RankingModel.from_arrays(model.arrays())
    assert again.kind == "ease" and again.params == model.params
    assert np.array_equal(again.weights, model.weights) and np.array_equal(again.movie_ids, model.movie_ids)


def test_auto_picks_ials_for_a_large_catalogue(ratings: pd.DataFrame) -> None:
    assert fit_ranking(ratings, RankingParams(ease_max_movies=50, ials_factors=4)).kind == "ials"
    assert fit_ranking(ratings, RankingParams(ease_max_movies=5000)).kind == "ease"


def test_ials_fold_in_solves_each_users_least_squares(ratings: pd.DataFrame) -> None:
    # Against the item factors held fixed, a user's factors minimise
    # sum_i c_ui (p_ui - x.y_i)^2 + reg |x|^2 over every movie (c = 1 + alpha if rated,
    # else 1; p = 1 if rated, else 0): solved here densely, by plain least squares.
    params = RankingParams(kind="ials", ials_factors=6, ials_regularization=3.0, ials_alpha=4.0)
    model = fit_ranking(ratings, params)
    users = np.array([1, 2, 7])
    history = model.history(users, RatedPairs.from_frame(ratings))
    folded = model._fold_in(history)
    items = model.weights.astype(np.float64)
    for row in range(len(users)):
        preference = history[row].toarray().ravel()
        weight = np.sqrt(1.0 + params.ials_alpha * preference)
        design = np.vstack([items * weight[:, None], np.sqrt(params.ials_regularization) * np.eye(6)])
        target = np.concatenate([preference * weight, np.zeros(6)])
        expected, *_ = np.linalg.lstsq(design, target, rcond=None)
        assert np.allclose(folded[row], expected, atol=1e-4)


def test_ials_round_trips_with_its_gram_matrix(ratings: pd.DataFrame) -> None:
    model = fit_ranking(ratings, RankingParams(kind="ials", ials_factors=8))
    again = RankingModel.from_arrays(model.arrays())
    assert again.kind == "ials" and again.params == model.params
    assert again.gram is not None and model.gram is not None and np.array_equal(again.gram, model.gram)
    users, rated = np.array([1, 2, 3]), RatedPairs.from_frame(ratings)
    first, second = rank(model, users, k=10, rated=rated), rank(again, users, k=10, rated=rated)
    assert first.movie_ids.tolist() == second.movie_ids.tolist()
    with pytest.raises(ValueError, match="gram"):
        RankingModel("ials", model.movie_ids, model.weights, model.params, model.popularity, None)


def test_a_user_unseen_at_fit_time_is_scored_from_their_history(ratings: pd.DataFrame) -> None:
    model = fit_ranking(ratings, RankingParams(kind="ease"))
    newcomer = int(ratings["user_id"].max()) + 1
    liked = ratings["movie_id"].value_counts().index[:3].to_numpy()
    rated = RatedPairs.of([newcomer] * 3, liked)
    top = rank(model, [newcomer], k=5, rated=rated)
    assert len(top) == 5 and not set(top.movie_ids.tolist()) & set(liked.tolist())
    # The same history gives the same list as the scores of its interaction row.
    matrix, _, movies = interactions(pd.DataFrame({"user_id": [newcomer] * 3, "movie_id": liked}))
    assert model.history(np.array([newcomer]), rated).nnz == 3
    assert len(movies) == 3 and matrix.nnz == 3


def test_pair_split_holds_out_the_same_pairs_as_data_grows(ratings: pd.DataFrame) -> None:
    _, small_test = pair_split(ratings.iloc[:5000], test_size=0.2, seed=3)
    _, big_test = pair_split(ratings, test_size=0.2, seed=3)
    small = set(zip(small_test["user_id"], small_test["movie_id"], strict=True))
    big = set(zip(big_test["user_id"], big_test["movie_id"], strict=True))
    assert small <= big
    assert 0.17 < len(big_test) / len(ratings) < 0.23
    other = in_test_part(ratings["user_id"], ratings["movie_id"], test_size=0.2, seed=4)
    assert set(np.flatnonzero(other)) != set(np.flatnonzero(
        in_test_part(ratings["user_id"], ratings["movie_id"], test_size=0.2, seed=3)))


def test_ndcg_by_hand() -> None:
    top = TopK(np.array([1, 1, 2, 2]), np.array([10, 11, 20, 21]), np.array([2.0, 1.0, 2.0, 1.0]))
    test = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [11, 12, 20], "rating": [5.0, 4.0, 4.0]})
    m = ranking_metrics(top, test, k=2, n_candidates=10)
    # user 1: hit at rank 2 → 1/log2(3); ideal 1 + 1/log2(3). user 2: hit at rank 1 → 1.
    expected = ((1 / np.log2(3)) / (1 + 1 / np.log2(3)) + 1.0) / 2
    assert m.ndcg == pytest.approx(expected)
    assert m.coverage == pytest.approx(4 / 10)


def _scores(rmse: float, ndcg: float) -> SplitScores:
    return SplitScores(rmse=rmse, mae=rmse, ndcg=ndcg, precision=ndcg, recall=ndcg, coverage=0.1)


def test_the_gate() -> None:
    popularity = _scores(float("nan"), 0.20)
    assert decide(_scores(0.9, 0.3), None, popularity).activate
    assert not decide(_scores(0.9, 0.19), None, popularity).activate, "never worse than popularity"
    active = _scores(0.90, 0.30)
    tol = Tolerances(rmse=0.01, ndcg=0.005)
    assert decide(_scores(0.905, 0.297), active, popularity, tol).activate
    worse_rmse = decide(_scores(0.92, 0.35), active, popularity, tol)
    assert not worse_rmse.activate and "rmse" in worse_rmse.text
    worse_list = decide(_scores(0.85, 0.29), active, popularity, tol)
    assert not worse_list.activate and "ndcg" in worse_list.text


def test_score_split_of_popularity_has_no_rmse(ratings: pd.DataFrame) -> None:
    train, test = pair_split(ratings, test_size=0.2, seed=0)
    scores = score_split(None, None, train, test)
    assert scores.rmse is None and 0 < scores.ndcg <= 1 and 0 < scores.coverage <= 1


def test_realtime_lists_beat_popularity_from_the_first_rating() -> None:
    ratings = generate(943, 1682, 100_000, seed=3).ratings  # ml-100k's shape
    rows = measure_realtime_lists(ratings, reveals=(1, 10))["after_ratings"]
    assert rows["1"]["realtime_ndcg"] > rows["1"]["popular_ndcg"]
    assert rows["10"]["realtime_ndcg"] > 1.2 * rows["10"]["popular_ndcg"]
    for row in rows.values():  # as good as a retrain that saw the new ratings
        assert row["realtime_ndcg"] > 0.95 * row["full_retrain_ndcg"]
    without_prior = measure_realtime_lists(ratings, RankingParams(popularity_prior=0.0), reveals=(1,))
    assert without_prior["after_ratings"]["1"]["realtime_ndcg"] < rows["1"]["realtime_ndcg"]


@pytest.mark.parametrize("kind", ["ease", "ials", "puresvd"])
def test_similar_movies_exclude_the_movie_itself_and_come_best_first(
    ratings: pd.DataFrame, kind: str
) -> None:
    model = fit_ranking(ratings, RankingParams(kind=kind, factors=8, ials_factors=8))  # type: ignore[arg-type]
    movies, similar, scores = similar_movies(model, 5)
    assert len(movies) == 5 * len(model.movie_ids)
    assert not np.any(movies == similar)
    for movie in model.movie_ids[:10]:
        mine = scores[movies == movie]
        assert len(mine) == 5 and np.all(np.diff(mine) <= 0)


def test_excluded_movies_are_left_out_but_do_not_change_the_scores(ratings: pd.DataFrame) -> None:
    # Hidden movies ("not interested"): never in the list, and not history either, so
    # the other movies keep exactly the scores they had.
    model = fit_ranking(ratings, RankingParams(kind="ease"))
    rated = RatedPairs.from_frame(ratings)
    before = rank(model, [1, 2], k=10, rated=rated)
    hidden_movies = before.for_user(1)[0][[0, 3]]
    hidden = RatedPairs.of([1, 1], hidden_movies)
    after = rank(model, [1, 2], k=10, rated=rated, excluded=hidden)
    movies, values = after.for_user(1)
    assert not set(hidden_movies.tolist()) & set(movies.tolist())
    kept = dict(zip(*before.for_user(1), strict=True))
    assert all(kept[m] == v for m, v in zip(movies.tolist(), values.tolist(), strict=True) if m in kept)
    assert after.for_user(2)[0].tolist() == before.for_user(2)[0].tolist()  # another user: unchanged
    assert len(movies) == 10
