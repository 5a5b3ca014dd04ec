"""History products kept between re-ranks (EASE's, iALS's fold-in sums): updated products equal fresh ones (to
float32 rounding), an unchanged history gives the same product bit for bit, and the
memory budget bounds what is kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ml import history_products
from ml.dataset import clean_ratings
from ml.history_products import HistoryProducts
from ml.ranking import RankingModel, RankingParams, fit_ranking, rank
from ml.synthetic import generate
from ml.topk import RatedPairs


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return clean_ratings(generate(300, 120, 9000, seed=4).ratings)


@pytest.fixture(scope="module")
def model(ratings: pd.DataFrame) -> RankingModel:
    return fit_ranking(ratings, RankingParams(kind="ease"))


def _rows(n_movies: int, histories: list[list[int]]) -> sp.csr_matrix:
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.array([c for h in histories for c in h], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)),
                         shape=(len(histories), n_movies))


def test_updated_products_equal_fresh_ones(model: RankingModel) -> None:
    n = len(model.movie_ids)
    kept = HistoryProducts(model.weights, budget_bytes=1 << 20)
    histories = [[1, 5, 9, 20], [3, 4], [7, 8, 30, 31, 40]]
    kept.products([10, 11, 12], _rows(n, histories))
    assert (kept.computed, kept.updated) == (3, 0)
    # One movie more, one fewer, one swapped: updated from the kept products.
    changed = [[1, 5, 9, 20, 50], [3, 4, 60], [7, 8, 30, 31]]
    history = _rows(n, changed)
    got = kept.products([10, 11, 12], history)
    assert (kept.computed, kept.updated) == (3, 3)
    fresh = np.asarray(history @ model.weights, dtype=np.float32)
    np.testing.assert_allclose(got, fresh, rtol=1e-5, atol=1e-6)
    # A user it does not know is computed, beside one it knows.
    got = kept.products([13, 10], _rows(n, [[2, 3], [1, 5, 9, 20, 50]]))
    assert (kept.computed, kept.updated) == (4, 4)
    np.testing.assert_allclose(got[0], np.asarray(_rows(n, [[2, 3]]) @ model.weights)[0], rtol=1e-5,
                               atol=1e-6)


def test_an_unchanged_history_gives_the_same_product_bit_for_bit(model: RankingModel) -> None:
    kept = HistoryProducts(model.weights, budget_bytes=1 << 20)
    n = len(model.movie_ids)
    kept.products([1], _rows(n, [[1, 2, 3, 4]]))
    first = kept.products([1], _rows(n, [[1, 2, 3, 4, 9]])).copy()
    again = kept.products([1], _rows(n, [[1, 2, 3, 4, 9]]))  # a redelivered rating
    assert np.array_equal(first, again)


def test_a_large_change_or_many_updates_recompute_the_product(model: RankingModel,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_products, "REFRESH_AFTER", 3)
    kept = HistoryProducts(model.weights, budget_bytes=1 << 20)
    n = len(model.movie_ids)
    kept.products([1], _rows(n, [[1, 2]]))
    kept.products([1], _rows(n, [[1, 2, 3, 4, 5, 6, 7]]))  # more changes than half the history
    assert (kept.computed, kept.updated) == (2, 0)
    history = [1, 2, 3, 4, 5, 6, 7]
    for movie in (8, 9, 10, 11):
        history.append(movie)
        kept.products([1], _rows(n, [history]))
    assert (kept.computed, kept.updated) == (3, 3)  # the fourth update is a fresh product


def test_the_budget_bounds_the_users_kept(model: RankingModel) -> None:
    n = len(model.movie_ids)
    kept = HistoryProducts(model.weights, budget_bytes=5 * n * 4)
    assert kept.capacity == 5
    for user in range(12):
        kept.products([user], _rows(n, [[user % n, (user + 1) % n]]))
    assert len(kept) == 5
    kept.products([11], _rows(n, [[11, 12, 13]]))  # the most recent ones stay
    assert kept.updated == 1
    assert len(HistoryProducts(model.weights, budget_bytes=0)) == 0


def test_ials_sums_are_the_rated_movies_outer_products_and_factors(ratings: pd.DataFrame) -> None:
    items = fit_ranking(ratings, RankingParams(kind="ials", ials_factors=4)).weights
    sums, width = history_products.ials_sums(items)
    assert width == 4 * 4 + 4
    rows = _rows(len(items), [[1, 5, 9], [], [2]])
    rows.data[1] = -1.0  # an update's lost movie
    got = sums(rows)
    expected = np.outer(items[1], items[1]) - np.outer(items[5], items[5]) + np.outer(items[9], items[9])
    np.testing.assert_allclose(got[0, :16].reshape(4, 4), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[0, 16:], items[1] - items[5] + items[9], rtol=1e-5, atol=1e-6)
    assert not got[1].any()
    np.testing.assert_allclose(got[2, 16:], items[2])


@pytest.mark.parametrize("kind", ["ease", "ials"])
def test_lists_ranked_with_kept_products_are_the_fresh_lists(ratings: pd.DataFrame, kind: str) -> None:
    model = fit_ranking(ratings, RankingParams(kind=kind, ials_factors=8))  # type: ignore[arg-type]
    kept = model.history_products(1 << 24)
    assert kept is not None
    users = np.arange(1, 41)
    rated = RatedPairs.from_frame(ratings)
    rank(model, users, k=10, rated=rated, kept=kept)
    # Each user rates one movie of their list, as the speed layer sees it.
    top = rank(model, users, k=10, rated=rated)
    more = RatedPairs.of([*rated.user_ids.tolist(), *users.tolist()],
                         [*rated.movie_ids.tolist(), *[int(top.for_user(int(u))[0][0]) for u in users]])
    fresh = rank(model, users, k=10, rated=more)
    updated = rank(model, users, k=10, rated=more, kept=kept)
    assert kept.updated == len(users)
    for user in users:
        fresh_movies, fresh_values = fresh.for_user(int(user))
        movies, values = updated.for_user(int(user))
        np.testing.assert_allclose(values, fresh_values, rtol=1e-5, atol=1e-6)
        # The same list, but for movies whose scores tie to float32 rounding.
        differ = movies != fresh_movies
        assert np.allclose(values[differ], fresh_values[differ], rtol=1e-5, atol=1e-6)
