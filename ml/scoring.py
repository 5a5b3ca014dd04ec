"""SVD factors as plain arrays, and vectorised scores equal to Surprise's ``predict``.

Surprise's ``SVD.estimate`` (biased) is ``mu [+ b_u if user known] [+ b_i if item
known] [+ q_i·p_u if both known]`` and ``predict`` then clips into the rating scale.
Giving an unknown user or movie a zero bias and zero factor row reproduces every
branch with one formula, so a whole (users x movies) block is one matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
from surprise import SVD

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def as_ids(ids: npt.ArrayLike) -> I64:
    """Raw ids as a 1-d int64 array (raw ids are ints throughout streamrec)."""
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False).reshape(-1)


def sorted_unique(ids: npt.ArrayLike) -> I64:
    """``np.unique`` of raw ids, without its sort when they are sorted and unique already
    (a catalogue read in id order: the speed layer asks this of every small round)."""
    arr = as_ids(ids)
    if len(arr) < 2 or bool(np.all(arr[1:] > arr[:-1])):
        return arr
    return np.unique(arr)


@dataclass(frozen=True, eq=False)
class SVDFactors:
    """Everything a biased SVD needs to score, indexed by Surprise's inner ids.

    ``user_ids[u]`` / ``movie_ids[i]`` are the raw ids of inner user ``u`` / item ``i``.
    """

    mu: float
    bu: F64
    bi: F64
    pu: F64
    qi: F64
    user_ids: I64
    movie_ids: I64
    rating_scale: tuple[float, float]

    def __post_init__(self) -> None:
        n_users, n_items = len(self.user_ids), len(self.movie_ids)
        ok = (
            self.bu.shape == (n_users,)
            and self.bi.shape == (n_items,)
            and self.pu.ndim == 2
            and self.qi.ndim == 2
            and self.pu.shape[0] == n_users
            and self.qi.shape[0] == n_items
            and self.pu.shape[1] == self.qi.shape[1]
            and self.rating_scale[0] <= self.rating_scale[1]
        )
        if not ok:
            raise ValueError(
                "inconsistent SVD factor shapes: "
                f"bu{self.bu.shape} bi{self.bi.shape} pu{self.pu.shape} qi{self.qi.shape} "
                f"users({n_users}) movies({n_items}) scale{self.rating_scale}"
            )
        if len(np.unique(self.user_ids)) != n_users or len(np.unique(self.movie_ids)) != n_items:
            raise ValueError("raw user and movie ids must be unique")

    @property
    def n_factors(self) -> int:
        return int(self.pu.shape[1])

    @cached_property
    def _user_lookup(self) -> tuple[I64, I64]:
        order = np.argsort(self.user_ids, kind="stable").astype(np.int64)
        return self.user_ids[order], order

    @cached_property
    def _movie_lookup(self) -> tuple[I64, I64]:
        order = np.argsort(self.movie_ids, kind="stable").astype(np.int64)
        return self.movie_ids[order], order

    def user_index(self, raw_ids: npt.ArrayLike) -> I64:
        """Inner index of each raw user id, -1 where the model does not know the user."""
        return _lookup(*self._user_lookup, as_ids(raw_ids))

    def movie_index(self, raw_ids: npt.ArrayLike) -> I64:
        """Inner index of each raw movie id, -1 where the model does not know the movie."""
        return _lookup(*self._movie_lookup, as_ids(raw_ids))

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The fields as named arrays (the model store's ``.npz`` layout)."""
        return {
            "mu": np.array(self.mu, dtype=np.float64),
            "bu": self.bu,
            "bi": self.bi,
            "pu": self.pu,
            "qi": self.qi,
            "user_ids": self.user_ids,
            "movie_ids": self.movie_ids,
            "rating_scale": np.array(self.rating_scale, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]]) -> SVDFactors:
        """Inverse of :meth:`arrays`; raises ``KeyError``/``ValueError`` on a bad layout."""
        scale = np.asarray(arrays["rating_scale"], dtype=np.float64)
        if scale.shape != (2,):
            raise ValueError(f"rating_scale must hold 2 numbers, got shape {scale.shape}")
        return cls(
            mu=float(np.asarray(arrays["mu"], dtype=np.float64)),
            bu=np.asarray(arrays["bu"], dtype=np.float64),
            bi=np.asarray(arrays["bi"], dtype=np.float64),
            pu=np.asarray(arrays["pu"], dtype=np.float64),
            qi=np.asarray(arrays["qi"], dtype=np.float64),
            user_ids=as_ids(arrays["user_ids"]),
            movie_ids=as_ids(arrays["movie_ids"]),
            rating_scale=(float(scale[0]), float(scale[1])),
        )


def _lookup(sorted_ids: I64, order: I64, raw: I64) -> I64:
    if len(sorted_ids) == 0:
        return np.full(len(raw), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, raw)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    found = sorted_ids[pos] == raw
    return np.where(found, order[pos], -1).astype(np.int64)


def from_surprise(algo: SVD) -> SVDFactors:
    """Copy the factors and id maps out of a fitted (biased) Surprise SVD."""
    if not algo.biased:
        raise ValueError("only biased SVD is supported (SVD(biased=True), Surprise's default)")
    ts = algo.trainset
    # Public API only: inner ids are 0..n-1 in order of first appearance.
    user_ids = np.array([ts.to_raw_uid(u) for u in range(ts.n_users)], dtype=np.int64)
    movie_ids = np.array([ts.to_raw_iid(i) for i in range(ts.n_items)], dtype=np.int64)
    low, high = ts.rating_scale
    return SVDFactors(
        mu=float(ts.global_mean),
        bu=np.array(algo.bu, dtype=np.float64),
        bi=np.array(algo.bi, dtype=np.float64),
        pu=np.array(algo.pu, dtype=np.float64),
        qi=np.array(algo.qi, dtype=np.float64),
        user_ids=user_ids,
        movie_ids=movie_ids,
        rating_scale=(float(low), float(high)),
    )


def _gather(
    factors: SVDFactors, index: I64, bias: F64, vectors: F64
) -> tuple[F64, F64]:
    """Bias and factor rows for inner indexes; zeros where the index is -1 (unknown)."""
    unknown = index < 0
    if len(bias) == 0:  # a model without users (or movies): everything is unknown
        return np.zeros(len(index)), np.zeros((len(index), factors.n_factors))
    safe = np.where(unknown, 0, index)
    b = np.take(bias, safe).astype(np.float64, copy=False)
    v = np.take(vectors, safe, axis=0).reshape(len(index), factors.n_factors)
    if unknown.any():
        b[unknown] = 0.0
        v[unknown] = 0.0
    return b, v


def score_pairs(
    factors: SVDFactors, user_ids: npt.ArrayLike, movie_ids: npt.ArrayLike,
    *, chunk_size: int = 2048,
) -> F64:
    """Clipped estimate for each (user_ids[n], movie_ids[n]) pair, as ``predict().est``."""
    users, movies = as_ids(user_ids), as_ids(movie_ids)
    if users.shape != movies.shape:
        raise ValueError(f"{len(users)} user ids but {len(movies)} movie ids")
    u_idx, m_idx = factors.user_index(users), factors.movie_index(movies)
    out = np.empty(len(users), dtype=np.float64)
    for start in range(0, len(users), chunk_size):
        sl = slice(start, start + chunk_size)
        bu, pu = _gather(factors, u_idx[sl], factors.bu, factors.pu)
        bi, qi = _gather(factors, m_idx[sl], factors.bi, factors.qi)
        out[sl] = (factors.mu + bu) + bi + np.einsum("ij,ij->i", qi, pu)
    return np.clip(out, *factors.rating_scale, out=out)


def score_users(
    factors: SVDFactors, user_ids: npt.ArrayLike, movie_ids: npt.ArrayLike | None = None,
    *, clip: bool = True,
) -> F64:
    """Clipped estimates (unclipped with ``clip=False``), one row per user and one
    column per movie.

    ``movie_ids`` defaults to every movie the model knows (in inner order); unknown
    users and movies get Surprise's bias-only fallback.  Callers bound memory by
    passing users in chunks (see :func:`ml.topk.recommend`).
    """
    u_idx = factors.user_index(user_ids)
    m_idx = (
        np.arange(len(factors.movie_ids), dtype=np.int64)
        if movie_ids is None
        else factors.movie_index(movie_ids)
    )
    bu, pu = _gather(factors, u_idx, factors.bu, factors.pu)
    bi, qi = _gather(factors, m_idx, factors.bi, factors.qi)
    # Same addition order as Surprise: ((mu + b_u) + b_i) + q_i·p_u.
    scores = np.add.outer(factors.mu + bu, bi)
    scores += pu @ qi.T
    return np.clip(scores, *factors.rating_scale, out=scores) if clip else scores


def candidate_movies(factors: SVDFactors, catalogue: npt.ArrayLike | None = None) -> I64:
    """Movies to rank: all the model knows, sorted by id, optionally only those in
    ``catalogue`` (e.g. the movies table, so a deleted movie is never suggested)."""
    known = np.sort(factors.movie_ids)
    if catalogue is None:
        return known
    return known[np.isin(known, as_ids(catalogue))]
