"""Block-pruned top-K gives the full ranking's rows: same movies, same order, same ties."""

from __future__ import annotations

import numpy as np
import pytest

from ml.block_topk import _bounds, block_index, block_top_k
from ml.dataset import clean_ratings
from ml.ranking import RankingParams, fit_ranking, rank
from ml.sparse_synthetic import generate_sparse
from ml.topk import RatedPairs, rank_top_k, top_k_rows

F32 = np.float32


def _long_tailed(rng: np.random.Generator, n_movies: int, n_factors: int) -> np.ndarray:
    """Item rows whose norms fall off like a popularity curve, as PureSVD's do."""
    scale = (1.0 / np.arange(1, n_movies + 1) ** 0.8)[rng.permutation(n_movies)]
    return (rng.normal(size=(n_movies, n_factors)) * scale[:, None]).astype(F32)


def _full(left: np.ndarray, right: np.ndarray, k: int, rows: np.ndarray, cols: np.ndarray,
          blocked: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    scores = left @ right.T
    scores[rows, cols] = -np.inf
    if blocked is not None:
        scores[:, blocked] = -np.inf
    return top_k_rows(scores, k)


def _assert_same(full: tuple[np.ndarray, np.ndarray], pruned: tuple[np.ndarray, np.ndarray]) -> None:
    (f_idx, f_vals), (p_idx, p_vals) = full, pruned
    finite = np.isfinite(p_vals)
    assert np.array_equal(np.isfinite(f_vals), finite[:, : f_vals.shape[1]])
    assert np.array_equal(f_idx[np.isfinite(f_vals)], p_idx[: len(f_idx)][finite[:, : f_vals.shape[1]]])
    np.testing.assert_allclose(p_vals[finite], f_vals[np.isfinite(f_vals)], rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_top_k_equals_the_full_ranking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    right = _long_tailed(rng, 700, 6)
    left = rng.normal(size=(40, 6)).astype(F32)
    rows = rng.integers(0, 40, 500)
    cols = rng.integers(0, 700, 500)
    blocked = np.zeros(700, dtype=bool)
    blocked[rng.choice(700, 30, replace=False)] = True
    index = block_index(right, head=32, block=16)
    assert index.n_blocks > 10
    pruned = block_top_k(left, index, 10, rows, cols, blocked)
    _assert_same(_full(left, right, 10, rows, cols, blocked), pruned)


def test_ties_are_broken_by_column_across_blocks() -> None:
    # Integer rows: many movies score exactly the same, in different blocks.
    rng = np.random.default_rng(3)
    right = rng.integers(-2, 3, size=(300, 3)).astype(F32)
    left = rng.integers(-2, 3, size=(25, 3)).astype(F32)
    index = block_index(right, head=8, block=8)
    none = np.zeros(0, dtype=np.int64)
    pruned = block_top_k(left, index, 12, none, none)
    full = _full(left, right, 12, none, none, None)
    assert np.array_equal(pruned[0], full[0])
    assert np.array_equal(pruned[1], full[1])


def test_a_row_with_fewer_candidates_than_k_ends_in_minus_infinity() -> None:
    rng = np.random.default_rng(4)
    right = _long_tailed(rng, 50, 4)
    blocked = np.ones(50, dtype=bool)
    blocked[[3, 17, 40]] = False
    none = np.zeros(0, dtype=np.int64)
    cols, vals = block_top_k(rng.normal(size=(2, 4)).astype(F32), block_index(right, head=8, block=8), 5,
                             none, none, blocked)
    assert np.isfinite(vals[:, :3]).all() and np.isneginf(vals[:, 3:]).all()
    assert {tuple(sorted(row)) for row in cols[:, :3].tolist()} == {(3, 17, 40)}


def test_most_blocks_are_skipped_when_norms_fall_off() -> None:
    """The pruning itself: with a popularity-like fall-off of the item rows' norms, the
    bounds of most tail blocks are below each user's final K-th best."""
    rng = np.random.default_rng(5)
    right = _long_tailed(rng, 4000, 8)
    left = rng.normal(size=(64, 8)).astype(F32)
    index = block_index(right, head=256, block=128)
    none = np.zeros(0, dtype=np.int64)
    pruned = block_top_k(left, index, 10, none, none)
    _assert_same(_full(left, right, 10, none, none, None), pruned)
    reachable = (_bounds(left, index)[:, 1:] >= pruned[1][:, -1:]).sum(axis=1)
    assert reachable.mean() < (index.n_blocks - 1) / 4


def test_rank_of_a_large_catalogue_equals_the_full_product() -> None:
    data = clean_ratings(generate_sparse(3000, 5000, 90_000, seed=6).ratings)
    model = fit_ranking(data, RankingParams(kind="puresvd", factors=12))
    assert len(model.movie_ids) > 3072  # the block path
    users = np.unique(data["user_id"].to_numpy())[:700]
    rated = RatedPairs.from_frame(data[data["user_id"].isin(users)])
    hidden = RatedPairs.of(users[:50], model.movie_ids[:50])
    candidates = model.movie_ids[::2]

    def block(chunk: np.ndarray, movies: np.ndarray) -> np.ndarray:
        scores = model.scores(model.history(chunk, rated))
        return np.take(scores, model.columns(movies), axis=1)

    full = rank_top_k(block, users, candidates, k=30, rated=rated.plus(hidden))
    pruned = rank(model, users, k=30, rated=rated, candidates=candidates, excluded=hidden)
    assert np.array_equal(full.user_ids, pruned.user_ids)
    assert np.array_equal(full.movie_ids, pruned.movie_ids)
    np.testing.assert_allclose(full.values, pruned.values, rtol=1e-5)
