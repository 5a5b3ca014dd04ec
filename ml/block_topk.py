"""Exact top-K of factored scores without scoring every movie.

A factored model scores user u and movie j as ``l_u · r_j`` (PureSVD: the history's
projection and the movie's factor row, with the popularity prior as one more column).
Scoring every movie for every user is users x movies work, which grows as ratings^1.5
when the catalogue grows with the data. Most of it is wasted: a user's best movies are
among the few with long factor rows, and a movie with a short row cannot score high.

So the movies are cut into blocks in order of ``‖r_j‖``, longest first. Every user
scores the first block (the head); a later block is scored for a user only if its
bound can reach the user's K-th best so far. The bound is the smaller of Cauchy-Schwarz
(``‖l_u‖ · max ‖r_j‖``) and the block's bounding box (``Σ_f max(l_uf·hi_f, l_uf·lo_f)``,
two small products over all users at once), and a block is skipped only when the bound,
widened by float32 rounding, is strictly below the K-th best: no skipped movie could
have entered the list or tied with its last entry. The result is the full ranking's:
the same movies in the same order (ties by column, as :func:`ml.topk.top_k_rows`),
values equal up to float32 rounding of the products.

``python -m bench.block_core`` compares it with the full product side by side on
ml-25m-shaped data (same rows, seconds of each).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.scoring import F64, I64
from ml.topk import top_k_rows

F32 = npt.NDArray[np.float32]
HEAD_MOVIES = 2048
BLOCK_MOVIES = 1024
# Bounds are widened by this share of ‖l_u‖·‖r_j‖: float32 products of ~100 terms err
# by far less (about 1e-6 of it), so a skipped block never held a winner.
_ROUNDING = 1e-4


@dataclass(frozen=True, eq=False)
class BlockIndex:
    """A model's item side cut into blocks by row norm, longest rows first. Within a
    block the columns are ascending, so a block's own top-K breaks ties by column."""

    starts: I64  # block b is rows starts[b]:starts[b + 1] of ``right`` and ``columns``
    columns: I64  # each row's column in the model
    right: F32  # the item rows, block by block (C order)
    hi: F64  # per block and factor: the largest and smallest entry
    lo: F64
    max_norm: F64  # per block: the longest row
    block_of: I64  # per model column: its block
    offset: I64  # per model column: its row within its block

    @property
    def n_blocks(self) -> int:
        return len(self.starts) - 1


def block_index(right: F32, *, head: int = HEAD_MOVIES, block: int = BLOCK_MOVIES) -> BlockIndex:
    """Cut ``right`` (movies x factors) into a head of ``head`` rows and blocks of
    ``block``, by row norm, longest first."""
    n = len(right)
    norms = np.linalg.norm(right.astype(np.float64), axis=1)
    by_norm = np.argsort(-norms, kind="stable")
    starts = np.unique(np.r_[0, np.arange(min(head, n), n, block), n]).astype(np.int64)
    block_of_rank = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    columns = by_norm[np.lexsort((by_norm, block_of_rank))].astype(np.int64)
    block_of = np.empty(n, dtype=np.int64)
    block_of[columns] = block_of_rank
    offset = np.empty(n, dtype=np.int64)
    offset[columns] = np.arange(n) - np.repeat(starts[:-1], np.diff(starts))
    rows = np.ascontiguousarray(right[columns], dtype=np.float32)
    if n == 0:
        empty = np.zeros((0, right.shape[1]), dtype=np.float64)
        return BlockIndex(starts, columns, rows, empty, empty.copy(), np.zeros(0), block_of, offset)
    wide = rows.astype(np.float64)
    first = starts[:-1]
    return BlockIndex(starts, columns, rows, np.maximum.reduceat(wide, first, axis=0),
                      np.minimum.reduceat(wide, first, axis=0), np.maximum.reduceat(norms[columns], first),
                      block_of, offset)


def _bounds(left: F32, index: BlockIndex) -> F64:
    """Each user's bound on each block's scores, widened for rounding (users x blocks)."""
    wide = left.astype(np.float64)
    box = np.maximum(wide, 0.0) @ index.hi.T + np.minimum(wide, 0.0) @ index.lo.T
    reach = np.linalg.norm(wide, axis=1)[:, None] * index.max_norm[None, :]
    bound: F64 = np.minimum(box, reach) + _ROUNDING * reach
    return bound


def _merge(best_cols: I64, best_vals: F64, cols: I64, vals: F64, k: int) -> tuple[I64, F64]:
    """The ``k`` best of two candidate sets per row, ties by column."""
    all_cols = np.concatenate([best_cols, cols], axis=1)
    all_vals = np.concatenate([best_vals, vals], axis=1)
    order = np.lexsort((all_cols, -all_vals), axis=1)[:, :k]
    return np.take_along_axis(all_cols, order, axis=1), np.take_along_axis(all_vals, order, axis=1)


def block_top_k(
    left: F32,
    index: BlockIndex,
    k: int,
    excluded_rows: I64,
    excluded_cols: I64,
    blocked: npt.NDArray[np.bool_] | None = None,
) -> tuple[I64, F64]:
    """Model columns and values of each row's ``k`` best ``left @ right.T``, best first,
    ties by column; ``(excluded_rows, excluded_cols)`` cells and ``blocked`` columns are
    never chosen. Shape (rows, k); a row with fewer candidates ends in ``-inf`` values
    (its columns there are meaningless)."""
    n_rows, n_cols = len(left), len(index.columns)
    sentinel = n_cols  # sorts after every real column among -inf values
    best_cols = np.full((n_rows, k), sentinel, dtype=np.int64)
    best_vals = np.full((n_rows, k), -np.inf, dtype=np.float64)
    if n_rows == 0 or n_cols == 0 or k == 0:
        return best_cols, best_vals
    bounds = _bounds(left, index)
    ex_block = index.block_of[excluded_cols]
    by_block = np.argsort(ex_block, kind="stable")
    ex_rows, ex_cols, ex_block = excluded_rows[by_block], excluded_cols[by_block], ex_block[by_block]
    ex_starts = np.searchsorted(ex_block, np.arange(index.n_blocks + 1))
    slot = np.full(n_rows, -1, dtype=np.int64)
    for b in range(index.n_blocks):
        kth = best_vals[:, k - 1]
        rows = np.arange(n_rows) if b == 0 else np.flatnonzero(bounds[:, b] >= kth)
        if len(rows) == 0:
            continue
        a, z = index.starts[b], index.starts[b + 1]
        scores = left[rows] @ index.right[a:z].T
        slot[rows] = np.arange(len(rows))
        e0, e1 = ex_starts[b], ex_starts[b + 1]
        cell_rows = slot[ex_rows[e0:e1]]
        hit = cell_rows >= 0
        scores[cell_rows[hit], index.offset[ex_cols[e0:e1][hit]]] = -np.inf
        slot[rows] = -1
        if blocked is not None:
            scores[:, blocked[index.columns[a:z]]] = -np.inf
        idx, vals = top_k_rows(scores, k)
        cols = np.where(np.isfinite(vals), index.columns[a:z][idx], sentinel)
        best_cols[rows], best_vals[rows] = _merge(best_cols[rows], best_vals[rows], cols, vals, k)
    return best_cols, best_vals
