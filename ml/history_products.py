"""History products kept between re-ranks: the speed layer's scoring, incremental.

An EASE score row is a user's history row times the movies x movies item matrix, plus
the popularity prior (a function of the history's length). The product is the costly
half: it reads one item row per rated movie. An iALS user's factors solve a system made
of the sums of their rated movies' ``y yᵀ`` and ``y``, a linear map of the history row
too (:func:`ials_sums`), the costly half of its fold-in. A user re-ranked by the speed layer has
usually rated one movie more than the last time, so :class:`HistoryProducts` keeps the
products of the users it scored last (least recently used out first, within a memory
budget) and, for a user it knows, adds the item rows of the movies the history gained
and subtracts those it lost instead of multiplying the whole history again.

Exact up to float32 rounding: an updated product differs from a fresh one only in the
last bits, and a product is recomputed after ``REFRESH_AFTER`` updates, so rounding
never accumulates. The same history gives the same product (a redelivery rewrites the
same list). Keyed by the item matrix: a new model version starts an empty cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]

REFRESH_AFTER = 64  # updates before a product is recomputed from the whole history
# More changed movies than this (or than half the history) and a fresh product is cheaper.
MAX_CHANGES = 16


@dataclass
class _Entry:
    columns: I32  # the history's movie columns, sorted
    product: F32
    updates: int


RowMap = Callable[[sp.csr_matrix], F32]  # rows (users x movies) -> users x width, linear


def ials_sums(items: F32) -> tuple[RowMap, int]:
    """The map of a history row (values: weights, ±1 in an update) to the row-weighted
    sums ``[vec(Σ w y yᵀ), Σ w y]`` of iALS's item factors ``y``, and its width."""
    f = items.shape[1]

    def sums(rows: sp.csr_matrix) -> F32:
        rows = rows.tocsr()
        out = np.zeros((rows.shape[0], f * f + f), dtype=np.float32)
        for row in range(rows.shape[0]):
            lo, hi = rows.indptr[row], rows.indptr[row + 1]
            if lo == hi:
                continue
            rated, weight = items[rows.indices[lo:hi]], rows.data[lo:hi].astype(np.float32)
            out[row, : f * f] = ((rated * weight[:, None]).T @ rated).ravel()
            out[row, f * f:] = weight @ rated
        return out

    return sums, f * f + f


class HistoryProducts:
    """``history @ weights`` (or ``row_map(history)``, a linear map of the rows) for rows
    of known users, from their last product when kept. ``weights`` also names the model:
    a new one starts an empty cache. One caller at a time: the speed layer's rounds follow
    one another, and ``rank`` scores with kept products in a single thread."""

    def __init__(self, weights: F32, budget_bytes: int, row_map: tuple[RowMap, int] | None = None) -> None:
        self.weights = weights
        if row_map is None:
            self._map: RowMap = lambda rows: np.asarray(rows @ weights, dtype=np.float32)
            self.width = weights.shape[1]
        else:
            self._map, self.width = row_map
        self.capacity = budget_bytes // max(1, self.width * 4)
        self._kept: OrderedDict[int, _Entry] = OrderedDict()
        self.updated = 0  # products updated from a kept one (for tests and metrics)
        self.computed = 0  # products computed from the whole history

    def __len__(self) -> int:
        return len(self._kept)

    def products(self, users: npt.ArrayLike, history: sp.csr_matrix) -> F32:
        """Each user's history row (row ``i`` of ``history`` is ``users[i]``'s) times the
        weights, float32, ``len(users)`` x movies.

        A handful of array operations for the whole batch, not a loop of them per user:
        the speed layer runs this on the worker's event loop, beside ingest."""
        user_ids = np.asarray(users, dtype=np.int64)
        history = history.tocsr()
        history.sum_duplicates()  # sorted columns per row
        n, width = len(user_ids), history.shape[1]  # keys: row * movies + column
        lengths = np.diff(history.indptr)
        kept = [self._kept.get(user) for user in user_ids.tolist()]
        usable = np.array([entry is not None and entry.updates < REFRESH_AFTER for entry in kept],
                          dtype=bool)
        # Each usable user's changes, as keys row * movies + column: one set difference each way.
        old_keys = np.concatenate([np.zeros(0, dtype=np.int64)] + [
            i * width + entry.columns.astype(np.int64)
            for i, entry in enumerate(kept) if entry is not None and usable[i]])
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        mine = usable[rows]
        new_keys = rows[mine] * width + history.indices[mine]
        gained = np.setdiff1d(new_keys, old_keys, assume_unique=True)
        lost = np.setdiff1d(old_keys, new_keys, assume_unique=True)
        changes = np.bincount(gained // width, minlength=n) + np.bincount(lost // width, minlength=n)
        usable &= (changes <= MAX_CHANGES) & (2 * changes <= lengths)
        updated, fresh = np.flatnonzero(usable), np.flatnonzero(~usable)
        out = np.empty((n, self.width), dtype=np.float32)
        if len(updated):
            out[updated] = np.stack([kept[i].product for i in updated.tolist()])  # type: ignore[union-attr]
            out[updated] += self._moved(gained, lost, usable, width)[updated]
        if len(fresh):
            out[fresh] = self._map(history[fresh])
        self.updated += len(updated)
        self.computed += len(fresh)
        if self.capacity:
            self._keep(user_ids, np.split(history.indices.astype(np.int32), history.indptr[1:-1]),
                       out, kept, usable, changes)
        return out

    def _moved(self, gained: npt.NDArray[np.int64], lost: npt.NDArray[np.int64],
               usable: npt.NDArray[np.bool_], width: int) -> F32:
        """The rows' gained movies' item rows minus their lost ones' (one sparse product);
        a row without a change adds exactly zero, so an unchanged history keeps its product."""
        moves = np.concatenate([gained, lost])
        signs = np.concatenate([np.ones(len(gained), np.float32), -np.ones(len(lost), np.float32)])
        take = usable[moves // width]
        delta = sp.csr_matrix((signs[take], (moves[take] // width, moves[take] % width)),
                              shape=(len(usable), width))
        return self._map(delta)

    def _keep(self, user_ids: npt.NDArray[np.int64], columns_of: list[I32], out: F32,
              kept: list[_Entry | None], updated: npt.NDArray[np.bool_],
              changes: npt.NDArray[np.int64]) -> None:
        for i, user in enumerate(user_ids.tolist()):
            self._kept.pop(user, None)
            previous = kept[i]
            updates = previous.updates + bool(changes[i]) if updated[i] and previous else 0
            # A copy per row, not a view of ``out``: an evicted row frees its memory.
            self._kept[user] = _Entry(columns_of[i], out[i].copy(), updates)
        while len(self._kept) > self.capacity:
            self._kept.popitem(last=False)
