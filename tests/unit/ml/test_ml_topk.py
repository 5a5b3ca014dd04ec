"""Top-K: partial sort equals a full sort, rated movies excluded, stable ties."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ml.scoring import SVDFactors, score_users
from ml.topk import RatedPairs, TopK, recommend, top_k_rows
from ml.train import TrainResult


def _brute_force(f: SVDFactors, users: np.ndarray, k: int, rated: pd.DataFrame) -> TopK:
    """One user at a time: full sort by (-unclipped estimate, movie id), rated ones
    dropped; the values shown are the clipped estimates."""
    movies = np.sort(f.movie_ids)
    out_u, out_m, out_v = [], [], []
    seen = set(zip(rated["user_id"].tolist(), rated["movie_id"].tolist(), strict=True))
    for user in users.tolist():
        scores = score_users(f, [user], movies, clip=False)[0]
        ranked = sorted(
            (
                (-v, m)
                for m, v in zip(movies.tolist(), scores.tolist(), strict=True)
                if (user, m) not in seen
            )
        )[:k]
        out_u += [user] * len(ranked)
        out_m += [m for _, m in ranked]
        out_v += [float(np.clip(-v, *f.rating_scale)) for v, _ in ranked]
    return TopK(np.array(out_u), np.array(out_m), np.array(out_v))


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_matches_a_full_sort_without_rated_movies(
    trained: TrainResult, ratings: pd.DataFrame, chunk_size: int
) -> None:
    f = trained.factors
    users = np.append(f.user_ids[:60], 99_999_999)  # plus an unknown user
    top = recommend(f, users, k=15, rated=RatedPairs.from_frame(ratings), chunk_size=chunk_size)
    expected = _brute_force(f, users, 15, ratings)
    assert top.user_ids.tolist() == expected.user_ids.tolist()
    assert top.movie_ids.tolist() == expected.movie_ids.tolist()
    # BLAS may round a 1-row product and a 60-row one differently, in the last bit.
    np.testing.assert_allclose(top.values, expected.values, rtol=0, atol=1e-12)


def test_replaying_a_job_gives_identical_rows(trained: TrainResult, ratings: pd.DataFrame) -> None:
    f = trained.factors
    rated = RatedPairs.from_frame(ratings)
    a = recommend(f, f.user_ids[:100], k=20, rated=rated)
    b = recommend(f, f.user_ids[:100], k=20, rated=rated)
    assert a.records() == b.records()


def test_never_suggests_a_rated_movie_and_is_sorted(
    trained: TrainResult, ratings: pd.DataFrame
) -> None:
    f = trained.factors
    top = recommend(f, f.user_ids, k=50, rated=RatedPairs.from_frame(ratings))
    rated = set(zip(ratings["user_id"].tolist(), ratings["movie_id"].tolist(), strict=True))
    suggested = set(zip(top.user_ids.tolist(), top.movie_ids.tolist(), strict=True))
    assert not rated & suggested
    assert len(suggested) == len(top)  # no duplicates
    for user in f.user_ids[:50].tolist():
        _, values = top.for_user(user)
        assert len(values) == 50
        assert (np.diff(values) <= 0).all()


def test_ties_are_broken_by_movie_id_even_at_the_kth_place() -> None:
    # No factors and no biases: every movie scores mu, so only the tie-break orders them.
    n_users, n_movies = 3, 40
    f = SVDFactors(
        mu=3.0,
        bu=np.zeros(n_users),
        bi=np.zeros(n_movies),
        pu=np.zeros((n_users, 2)),
        qi=np.zeros((n_movies, 2)),
        user_ids=np.array([5, 6, 7]),
        movie_ids=np.arange(1000, 1000 - n_movies, -1),  # inner order opposite to id order
        rating_scale=(0.5, 5.0),
    )
    rated = RatedPairs.of([6, 6], [961, 963])
    top = recommend(f, [5, 6, 7], k=4, rated=rated)
    assert top.for_user(5)[0].tolist() == [961, 962, 963, 964]
    assert top.for_user(6)[0].tolist() == [962, 964, 965, 966]
    again = recommend(f, [7, 6, 5], k=4, rated=rated, chunk_size=1)
    assert again.for_user(6)[0].tolist() == [962, 964, 965, 966]


def test_top_k_rows_orders_values_then_columns() -> None:
    scores = np.array([[1.0, 5.0, 5.0, 2.0, 5.0, 5.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    idx, vals = top_k_rows(scores.copy(), 3)
    assert idx.tolist() == [[1, 2, 4], [5, 4, 3]]
    assert vals.tolist() == [[5.0, 5.0, 5.0], [5.0, 4.0, 3.0]]


def test_user_with_few_unrated_movies_gets_fewer_rows(trained: TrainResult) -> None:
    f = trained.factors
    user = int(f.user_ids[0])
    all_but_two = np.sort(f.movie_ids)[2:]
    rated = RatedPairs.of(np.full(len(all_but_two), user), all_but_two)
    top = recommend(f, [user], k=10, rated=rated)
    assert sorted(top.movie_ids.tolist()) == np.sort(f.movie_ids)[:2].tolist()


def test_catalogue_restricts_candidates(trained: TrainResult) -> None:
    f = trained.factors
    catalogue = np.sort(f.movie_ids)[::3]
    top = recommend(f, f.user_ids[:20], k=5, catalogue=catalogue)
    assert set(top.movie_ids.tolist()) <= set(catalogue.tolist())
    assert len(top) == 20 * 5


def test_records_are_copy_ready(trained: TrainResult) -> None:
    top = recommend(trained.factors, trained.factors.user_ids[:3], k=2)
    records = top.records()
    assert len(records) == 6
    assert all(
        isinstance(u, int) and isinstance(m, int) and isinstance(v, float)
        for u, m, v in records
    )
    assert records[0] == (int(top.user_ids[0]), int(top.movie_ids[0]), float(top.values[0]))


def test_movies_clipped_to_the_top_are_ordered_by_their_unclipped_score(trained: TrainResult) -> None:
    f = trained.factors
    bi = f.bi.copy()
    bi[:20] = 10.0 + np.arange(20)  # all clip to the top of the scale; the later, the better
    boosted = dataclasses.replace(f, bi=bi)
    top = recommend(boosted, boosted.user_ids[:1], k=5)
    assert top.values.tolist() == [f.rating_scale[1]] * 5
    assert top.movie_ids.tolist() == boosted.movie_ids[19:14:-1].tolist()


def test_pairs_of_a_range_of_users_once_sorted_by_user() -> None:
    pairs = RatedPairs.of([9, 3, 7, 3, 12, 7], [1, 2, 3, 4, 5, 6]).sorted_by_user()
    assert pairs.user_ids.tolist() == [3, 3, 7, 7, 9, 12]
    assert pairs.movie_ids.tolist() == [2, 4, 3, 6, 1, 5]  # a user's pairs keep their order
    middle = pairs.of_users_between(7, 9)
    assert (middle.user_ids.tolist(), middle.movie_ids.tolist()) == ([7, 7, 9], [3, 6, 1])
    assert len(pairs.of_users_between(4, 6).user_ids) == 0
    assert pairs.of_users_between(1, 99).movie_ids.tolist() == pairs.movie_ids.tolist()
    assert len(RatedPairs.of([], []).sorted_by_user().of_users_between(1, 5).user_ids) == 0
