"""Top-K per user from score blocks: partial sort, exclusion mask, stable ties.

Rows are ranked by value, highest first; equal values are ordered by movie id
(ascending), also at the K-th place, so replaying a job writes the same rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.scoring import F64, I64, SVDFactors, as_ids, candidate_movies, score_users, sorted_unique

# Scores for (users, candidate movies) → (len(users), len(movies)) block.
# float32 or float64 scores of (users, movies); float32 halves a memory-bound pass.
ScoreBlock = Callable[[I64, I64], npt.NDArray[np.floating[Any]]]

# ~15 MB of float64 scores per block at 3,706 movies; measured fastest of 256..2048.
DEFAULT_CHUNK_USERS = 512
# Chunks scored at once when scoring many users (a prediction job, the gate's lists).
SCORING_THREADS = min(2, os.cpu_count() or 1)
MIN_THREAD_CHUNK = 64  # below this, a thread's start-up and a smaller BLAS call cost more


@dataclass(frozen=True, eq=False)
class RatedPairs:
    """(user, movie) pairs a user has rated: never suggested back to them."""

    user_ids: I64
    movie_ids: I64

    @classmethod
    def of(cls, user_ids: npt.ArrayLike, movie_ids: npt.ArrayLike) -> RatedPairs:
        users, movies = as_ids(user_ids), as_ids(movie_ids)
        if users.shape != movies.shape:
            raise ValueError(f"{len(users)} user ids but {len(movies)} movie ids")
        return cls(users, movies)

    @classmethod
    def from_frame(cls, ratings: pd.DataFrame) -> RatedPairs:
        return cls.of(ratings["user_id"].to_numpy(), ratings["movie_id"].to_numpy())

    def sorted_by_user(self) -> RatedPairs:
        order = np.argsort(self.user_ids, kind="stable")
        return RatedPairs(self.user_ids[order], self.movie_ids[order])

    def of_users_between(self, first: int, last: int) -> RatedPairs:
        """The pairs of users ``first`` to ``last`` (both included), of pairs sorted by
        user (:meth:`sorted_by_user`): two binary searches, not a pass over them all."""
        lo, hi = np.searchsorted(self.user_ids, first, "left"), np.searchsorted(self.user_ids, last, "right")
        return RatedPairs(self.user_ids[lo:hi], self.movie_ids[lo:hi])

    def plus(self, other: RatedPairs | None) -> RatedPairs:
        """These pairs and ``other``'s (a pair in both is harmless: excluded once)."""
        if other is None or len(other.user_ids) == 0:
            return self
        return RatedPairs(np.concatenate([self.user_ids, other.user_ids]),
                          np.concatenate([self.movie_ids, other.movie_ids]))


@dataclass(frozen=True, eq=False)
class TopK:
    """Flat, COPY-ready columns: each user's rows together, best first."""

    user_ids: I64
    movie_ids: I64
    values: F64

    def __len__(self) -> int:
        return len(self.user_ids)

    def records(self) -> list[tuple[int, int, float]]:
        """Rows as Python tuples (for ``copy_records_to_table``)."""
        return list(
            zip(self.user_ids.tolist(), self.movie_ids.tolist(), self.values.tolist(), strict=True)
        )

    def for_user(self, user_id: int) -> tuple[I64, F64]:
        """One user's (movie ids, values), best first."""
        mask = self.user_ids == user_id
        return self.movie_ids[mask], self.values[mask]


def _unique_in_order(ids: I64) -> I64:
    _, first = np.unique(ids, return_index=True)
    return ids[np.sort(first)]


def _positions(sorted_keys: I64, order: I64, values: I64) -> I64:
    """Index into the original (unsorted) array of each value, -1 if absent."""
    if len(sorted_keys) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == values, order[pos], -1).astype(np.int64)


def exclusion_csr(users: I64, movies: I64, rated: RatedPairs | None) -> tuple[I64, I64]:
    """CSR (indptr, column indices) of the rated cells of the (users x movies) block."""
    if rated is None or len(rated.user_ids) == 0:
        return np.zeros(len(users) + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    u_order = np.argsort(users, kind="stable").astype(np.int64)
    m_order = np.argsort(movies, kind="stable").astype(np.int64)
    rows = _positions(users[u_order], u_order, rated.user_ids)
    cols = _positions(movies[m_order], m_order, rated.movie_ids)
    keep = (rows >= 0) & (cols >= 0)
    rows, cols = rows[keep], cols[keep]
    by_row = np.argsort(rows, kind="stable")
    rows, cols = rows[by_row], cols[by_row]
    indptr = np.searchsorted(rows, np.arange(len(users) + 1)).astype(np.int64)
    return indptr, cols


def top_k_rows(scores: npt.NDArray[np.floating[Any]], k: int) -> tuple[I64, F64]:
    """Column indexes and values of each row's ``k`` best, best first, ties by column.

    ``scores`` may be modified.  Returns arrays of shape (rows, min(k, columns)).
    """
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k <= 0 or n_rows == 0:
        return np.zeros((n_rows, 0), dtype=np.int64), np.zeros((n_rows, 0), dtype=np.float64)
    if k < n_cols:
        idx = np.argpartition(scores, n_cols - k, axis=1)[:, n_cols - k :].astype(np.int64)
    else:
        idx = np.broadcast_to(np.arange(n_cols, dtype=np.int64), (n_rows, n_cols)).copy()
    vals = np.take_along_axis(scores, idx, axis=1)
    if k < n_cols:
        # argpartition picks arbitrarily among values equal to the K-th (common: clipped
        # scores at the top of the scale); refill those rows with the lowest columns.
        kth = vals.min(axis=1)
        ambiguous = np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k)
        if len(ambiguous):
            sub = scores[ambiguous]
            edge = kth[ambiguous][:, None]
            above = sub > edge
            tied = sub == edge
            room = k - above.sum(axis=1)
            take = above | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))
            idx[ambiguous] = np.nonzero(take)[1].reshape(len(ambiguous), k)
            vals[ambiguous] = np.take_along_axis(sub, idx[ambiguous], axis=1)
    order = np.lexsort((idx, -vals), axis=1)
    best: F64 = np.take_along_axis(vals, order, axis=1).astype(np.float64)
    return np.take_along_axis(idx, order, axis=1), best


# Each chunk's (column indexes, values) of its k best, shaped (chunk, <= k), from the
# chunk's users and the rows and columns of its excluded cells.
ChunkTopK = Callable[[I64, I64, I64], tuple[I64, F64]]


def rank_top_k(
    score_block: ScoreBlock,
    user_ids: npt.ArrayLike,
    movie_ids: npt.ArrayLike,
    *,
    k: int,
    rated: RatedPairs | None = None,
    chunk_size: int = DEFAULT_CHUNK_USERS,
    threads: int | None = None,
) -> TopK:
    """Top ``k`` of ``movie_ids`` for each user by ``score_block``, rated pairs excluded
    (``threads``: as :func:`rank_chunks`).

    Users keep the caller's order (duplicates dropped); a user with fewer than ``k``
    unrated candidates gets fewer rows.  The same call gives the same rows; a
    different ``chunk_size`` or batch of users may change values in the last bit
    (BLAS rounds blocks of different sizes differently).
    """
    movies = sorted_unique(movie_ids)  # sorted: column order is the tie-break

    def chunk_top_k(chunk: I64, rows: I64, cols: I64) -> tuple[I64, F64]:
        scores = score_block(chunk, movies)
        scores[rows, cols] = -np.inf
        return top_k_rows(scores, k)

    return rank_chunks(chunk_top_k, user_ids, movies, rated=rated, chunk_size=chunk_size, threads=threads)


def rank_chunks(
    chunk_top_k: ChunkTopK,
    user_ids: npt.ArrayLike,
    movies: I64,
    *,
    rated: RatedPairs | None = None,
    chunk_size: int = DEFAULT_CHUNK_USERS,
    threads: int | None = None,
) -> TopK:
    """The users' top rows by ``chunk_top_k`` over ``movies`` (sorted, unique; its
    column indexes are positions in them), chunk by chunk, chunks side by side in
    threads (``SCORING_THREADS`` unless ``threads`` says otherwise); rated pairs are the
    excluded cells. Rows of ``-inf`` are left out."""
    users = _unique_in_order(as_ids(user_ids))
    indptr, cols = exclusion_csr(users, movies, rated)

    def one_chunk(start: int) -> tuple[I64, I64, F64]:
        chunk = users[start : start + chunk_size]
        lo, hi = indptr[start], indptr[start + len(chunk)]
        rows = np.repeat(np.arange(len(chunk)), np.diff(indptr[start : start + len(chunk) + 1]))
        idx, vals = chunk_top_k(chunk, rows, cols[lo:hi])
        keep = np.isfinite(vals)  # fewer than k unrated candidates left
        return np.broadcast_to(chunk[:, None], idx.shape)[keep], movies[idx[keep]], vals[keep]

    threads = SCORING_THREADS if threads is None else threads
    if len(users) >= 2 * MIN_THREAD_CHUNK and threads > 1:  # every thread gets a chunk
        chunk_size = max(MIN_THREAD_CHUNK, min(chunk_size, -(-len(users) // threads)))
    starts = range(0, len(users), chunk_size)
    if len(starts) > 1 and threads > 1:
        # Chunks side by side: BLAS, argpartition and the exclusion release the GIL.
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(one_chunk, starts))
    else:
        parts = [one_chunk(start) for start in starts]
    if not parts:
        empty_i = np.zeros(0, dtype=np.int64)
        return TopK(empty_i, empty_i.copy(), np.zeros(0, dtype=np.float64))
    return TopK(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]))


def recommend(
    factors: SVDFactors,
    user_ids: npt.ArrayLike,
    *,
    k: int = 50,
    rated: RatedPairs | None = None,
    catalogue: npt.ArrayLike | None = None,
    chunk_size: int = DEFAULT_CHUNK_USERS,
) -> TopK:
    """Each user's ``k`` best movies by the SVD's predicted rating, rated ones excluded.

    Candidates are the movies the model knows (optionally only those in ``catalogue``);
    values equal Surprise's ``predict(user, movie).est``. Movies are ranked by the
    unclipped estimate, so of many clipped to the top of the scale the best come first
    (not the lowest ids); clipping keeps the order otherwise.
    """

    def block(users: I64, movies: I64) -> F64:
        return score_users(factors, users, movies, clip=False)

    top = rank_top_k(
        block,
        user_ids,
        candidate_movies(factors, catalogue),
        k=k,
        rated=rated,
        chunk_size=chunk_size,
    )
    return TopK(top.user_ids, top.movie_ids, np.clip(top.values, *factors.rating_scale))
