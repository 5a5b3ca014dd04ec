"""Surprise trainsets built straight from id and rating arrays, held as arrays.

``Dataset.load_from_df(...).build_full_trainset()`` first makes a Python list of one
4-tuple per rating, then ``ur`` and ``ir``: two dicts of lists of ``(inner id, rating)``
tuples, about 130 bytes per rating (3 GiB at 25M ratings, and the worker fits two
trainsets at once).  :func:`trainset_from_arrays` builds a :class:`CompactTrainset`
instead: the ratings as numpy columns in ``all_ratings`` order (users, items, ratings
and each one's source row: 20 bytes per rating), with vectorised numpy and no
per-rating Python object that outlives a chunk.

* inner ids in order of first appearance (``pd.factorize``), raw ids Python ints;
* ``all_ratings()`` yields user by user in inner-id order, each user's ratings in row
  order, as Python ints and floats: the order and values Surprise's own trainset gives,
  so a seeded SVD fitted on it is bit-for-bit the one fitted on Surprise's;
* ``ur`` and ``ir`` (which SVD's fit never reads) are built on first access, and a
  pickle holds a plain :class:`surprise.Trainset`, so a pickled model loads where only
  Surprise is installed.

The global mean is filled in (the same ``np.mean`` over the ratings in ``all_ratings``
order) so that ``fit`` does not walk the ratings for it.
"""

from __future__ import annotations

import gc
import itertools
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from surprise import Trainset


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic collector paused: millions of new tuples of ints and floats hold no
    cycles, and collections triggered by their allocation would only re-scan them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _object_table(objects: list[Any]) -> npt.NDArray[np.object_]:
    table = np.empty(len(objects), dtype=object)
    table[:] = objects
    return table


def _grouped(
    keys: npt.NDArray[np.int32], n_keys: int, order: npt.NDArray[np.intp],
    others: npt.NDArray[np.int32], other_objects: npt.NDArray[np.object_],
    levels: npt.NDArray[np.intp], level_objects: npt.NDArray[np.object_],
) -> defaultdict[int, list[tuple[int, float]]]:
    """``{key: [(other, rating), ...]}`` for keys 0..n_keys-1, each list in row order
    (``order`` is the stable argsort of ``keys``).  Each list is made from its own
    slice, so that no per-rating temporary outlives one key."""
    ends = np.cumsum(np.bincount(keys, minlength=n_keys)).tolist()
    grouped: defaultdict[int, list[tuple[int, float]]] = defaultdict(list)
    start = 0
    for key, end in enumerate(ends):
        rows = order[start:end]
        grouped[key] = list(zip(other_objects[others[rows]].tolist(),
                                level_objects[levels[rows]].tolist(), strict=True))
        start = end
    return grouped


# Ratings turned into Python objects at a time by ``all_ratings``: big enough that the
# per-chunk calls cost nothing, small enough that the chunk's objects stay in cache.
_CHUNK = 65_536


class CompactTrainset(Trainset):  # type: ignore[misc]  # Surprise has no type hints
    """A :class:`surprise.Trainset` whose ratings are numpy columns in ``all_ratings``
    order: ``users`` and ``items`` inner ids (int32), ``ratings`` (float64), and ``rows``:
    each one's row in the arrays it was built from (``ir`` lists follow that order)."""

    def __init__(
        self, users: npt.NDArray[np.int32], items: npt.NDArray[np.int32], ratings: npt.NDArray[np.float64],
        rows: npt.NDArray[np.int32], n_users: int, n_items: int, rating_scale: tuple[float, float],
        raw2inner_id_users: dict[int, int], raw2inner_id_items: dict[int, int], global_mean: float,
    ) -> None:
        # Not Trainset.__init__: it stores ``ur`` and ``ir``, which are built lazily here.
        self.users, self.items, self.ratings, self.rows = users, items, ratings, rows
        self.n_users, self.n_items, self.n_ratings = n_users, n_items, len(ratings)
        self.rating_scale = rating_scale
        self._raw2inner_id_users = raw2inner_id_users
        self._raw2inner_id_items = raw2inner_id_items
        self._global_mean = global_mean
        self._inner2raw_id_users = None
        self._inner2raw_id_items = None
        self._ur: defaultdict[int, list[tuple[int, float]]] | None = None
        self._ir: defaultdict[int, list[tuple[int, float]]] | None = None

    def all_ratings(self) -> Iterator[tuple[int, int, float]]:
        # A chain of zips, not a generator: SVD's fit takes every rating from C code
        # without resuming a Python frame for each.
        return itertools.chain.from_iterable(
            zip(self.users[start : start + _CHUNK].tolist(), self.items[start : start + _CHUNK].tolist(),
                self.ratings[start : start + _CHUNK].tolist(), strict=True)
            for start in range(0, self.n_ratings, _CHUNK))

    def knows_user(self, uid: Any) -> bool:
        return isinstance(uid, int | np.integer) and bool(0 <= uid < self.n_users)

    def knows_item(self, iid: Any) -> bool:
        return isinstance(iid, int | np.integer) and bool(0 <= iid < self.n_items)

    @property
    def ur(self) -> defaultdict[int, list[tuple[int, float]]]:
        if self._ur is None:
            # The columns are in user order already: the identity is that stable order.
            self._ur = _lists_by(self.users, self.n_users, np.arange(self.n_ratings), self.items,
                                 self.n_items, self.ratings)
        return self._ur

    @property
    def ir(self) -> defaultdict[int, list[tuple[int, float]]]:
        if self._ir is None:
            # Each item's ratings in the order of the rows built from, as Surprise's are.
            position = np.empty(self.n_ratings, dtype=np.intp)
            position[self.rows] = np.arange(self.n_ratings)
            items_by_row = self.items[position]
            by_item = position[np.argsort(items_by_row, kind="stable")]
            self._ir = _lists_by(self.items, self.n_items, by_item, self.users, self.n_users, self.ratings)
        return self._ir

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as Surprise's own Trainset (the same ratings, ``ur`` and ``ir``)."""
        args = (self.ur, self.ir, self.n_users, self.n_items, self.n_ratings, self.rating_scale,
                self._raw2inner_id_users, self._raw2inner_id_items)
        return Trainset, args, {"_global_mean": self._global_mean}


def _lists_by(
    keys: npt.NDArray[np.int32], n_keys: int, order: npt.NDArray[np.intp],
    others: npt.NDArray[np.int32], n_others: int, values: npt.NDArray[np.float64],
) -> defaultdict[int, list[tuple[int, float]]]:
    """``ur`` or ``ir`` as Surprise holds them: ints and floats shared, one per value."""
    distinct, level_of = np.unique(values, return_inverse=True)
    with _no_gc():
        return _grouped(keys, n_keys, order, others, _object_table(list(range(n_others))),
                        level_of.reshape(-1), _object_table(distinct.tolist()))


def trainset_from_arrays(
    users: npt.ArrayLike,
    movies: npt.ArrayLike,
    ratings: npt.ArrayLike,
    rating_scale: tuple[float, float],
) -> CompactTrainset:
    """The trainset ``build_full_trainset`` makes of rows ``(users[k], movies[k],
    ratings[k])``, held as arrays; ids are integers, ratings numbers."""
    user_raw = np.asarray(users).astype(np.int64, copy=False).reshape(-1)
    movie_raw = np.asarray(movies).astype(np.int64, copy=False).reshape(-1)
    values = np.asarray(ratings).astype(np.float64, copy=False).reshape(-1)
    if not len(user_raw) == len(movie_raw) == len(values):
        raise ValueError(
            f"users, movies and ratings differ in length: "
            f"{len(user_raw)}, {len(movie_raw)}, {len(values)}"
        )
    # Inner ids in order of first appearance, as Surprise numbers them.
    u_factorized, u_uniques = pd.factorize(user_raw, sort=False)
    i_factorized, i_uniques = pd.factorize(movie_raw, sort=False)
    u_codes, i_codes = u_factorized.astype(np.int32), i_factorized.astype(np.int32)
    del u_factorized, i_factorized
    n_users, n_items = len(u_uniques), len(i_uniques)
    raw2inner_users = dict(zip(np.asarray(u_uniques).tolist(), range(n_users), strict=True))
    raw2inner_items = dict(zip(np.asarray(i_uniques).tolist(), range(n_items), strict=True))
    # all_ratings() order: user by user in inner-id order, each user's in row order.
    by_user = np.argsort(u_codes, kind="stable")
    in_order = values[by_user]
    return CompactTrainset(
        u_codes[by_user], i_codes[by_user], in_order, by_user.astype(np.int32), n_users, n_items,
        rating_scale, raw2inner_users, raw2inner_items, np.float64(np.mean(in_order)),
    )


def trainset_from_frame(ratings: pd.DataFrame, rating_scale: tuple[float, float]) -> CompactTrainset:
    """:func:`trainset_from_arrays` of a cleaned ratings frame's columns."""
    return trainset_from_arrays(
        ratings["user_id"].to_numpy(),
        ratings["movie_id"].to_numpy(),
        ratings["rating"].to_numpy(dtype=np.float64),
        rating_scale,
    )
