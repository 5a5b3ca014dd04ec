"""Surprise trainsets built straight from id and rating arrays.

``Dataset.load_from_df(...).build_full_trainset()`` first makes a Python list of one
4-tuple per rating and then walks it row by row.  :func:`trainset_from_arrays` builds
the same :class:`surprise.Trainset` with vectorised numpy and a few list operations:

* inner ids in order of first appearance (``pd.factorize``), raw ids Python ints;
* ``ur[u]`` / ``ir[i]`` lists of ``(inner id, rating)`` in row order (stable sorts);
* the rating floats and the inner-id ints are shared objects, not one per rating, and
  the cyclic garbage collector is paused while the tuples are made.

Same order, same values, so a seeded SVD fitted on it is bit-for-bit the one fitted on
Surprise's own trainset.  The global mean is filled in (the same ``np.mean`` over the
ratings in ``all_ratings`` order) so that ``fit`` does not walk the ratings for it.
"""

from __future__ import annotations

import gc
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


def trainset_from_arrays(
    users: npt.ArrayLike,
    movies: npt.ArrayLike,
    ratings: npt.ArrayLike,
    rating_scale: tuple[float, float],
) -> Trainset:
    """The trainset ``build_full_trainset`` makes of rows ``(users[k], movies[k],
    ratings[k])``; ids are integers, ratings numbers."""
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

    # Python ints and floats as Surprise holds them, one object per distinct value.
    distinct, level_of = np.unique(values, return_inverse=True)
    level_of = level_of.reshape(-1)
    level_objects = _object_table(distinct.tolist())
    by_user = np.argsort(u_codes, kind="stable")
    # Trainset.global_mean is np.mean of the ratings in all_ratings() order: user by
    # user in inner-id order, each user's in row order.
    global_mean = np.mean(values[by_user])
    with _no_gc():
        ur = _grouped(u_codes, n_users, by_user, i_codes, _object_table(list(range(n_items))),
                      level_of, level_objects)
        del by_user
        ir = _grouped(i_codes, n_items, np.argsort(i_codes, kind="stable"), u_codes,
                      _object_table(list(range(n_users))), level_of, level_objects)
    trainset = Trainset(
        ur, ir, n_users, n_items, len(values), rating_scale, raw2inner_users, raw2inner_items
    )
    trainset._global_mean = global_mean
    return trainset


def trainset_from_frame(ratings: pd.DataFrame, rating_scale: tuple[float, float]) -> Trainset:
    """:func:`trainset_from_arrays` of a cleaned ratings frame's columns."""
    return trainset_from_arrays(
        ratings["user_id"].to_numpy(),
        ratings["movie_id"].to_numpy(),
        ratings["rating"].to_numpy(dtype=np.float64),
        rating_scale,
    )
