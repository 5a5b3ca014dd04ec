"""Top-N ranking models: what orders a user's list.

Ranking movies by SVD's predicted rating favours movies with few, high ratings and loses
to a popularity chart (Cremonesi, Koren, Turrin, RecSys 2010); models fitted for top-N
beat it about twofold. Both models here are *item-based*: a user's scores are their
history row (which movies they rated, as 0/1) times an item-side matrix, so any user is
scored from their current ratings, including one who rated after the fit:

* EASE^R (Steck 2019): ``B = I - P·diag(1/diag(P))``, ``P = (XᵀX + λI)⁻¹``; scores
  ``x_u · B``. Best measured, but ``B`` is movies x movies (cost ∝ movies³), so it is
  used only up to ``ease_max_movies``;
* iALS (Hu, Koren, Volinsky 2008), fitted by the ``implicit`` library: item factors
  ``Y`` fitted to every (user, movie) cell, a rated one with confidence ``1 + alpha``,
  an unrated one with 1. A user's factors are the exact least-squares fold-in of their
  history, ``x_u = (YᵀY + λI + alpha·Y_uᵀY_u)⁻¹ (1 + alpha)·Σ y_i``, one f x f solve
  per user, and scores ``x_u · Yᵀ``. Memory ∝ movies x factors: any catalogue size;
* PureSVD: the top ``factors`` right singular vectors ``V`` of ``X``; scores
  ``(x_u · V) · Vᵀ``. Kept as an option.

Both add a popularity prior that fades with the history: ``prior · pop_i / n_u`` (pop
scaled to 1 for the most-rated movie, ``n_u`` the user's ratings). A history of one or
two movies says little, and a list from it alone loses to a popularity chart; the prior
lifts a new user's list above the chart from the first rating and is negligible once
the history is long (measured by ``ml.foldin.measure_realtime_lists``).

Arrays in, arrays out: no I/O.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

from ml.block_topk import BLOCK_MOVIES, HEAD_MOVIES, BlockIndex, block_index, block_top_k
from ml.history_products import HistoryProducts, ials_sums
from ml.scoring import F64, I64, as_ids, sorted_unique
from ml.topk import DEFAULT_CHUNK_USERS, RatedPairs, TopK, rank_chunks, rank_top_k, top_k_rows

Kind = Literal["auto", "ease", "ials", "puresvd"]
Fitted = Literal["ease", "ials", "puresvd"]
FITTED_KINDS: tuple[Fitted, ...] = ("ease", "ials", "puresvd")
F32 = npt.NDArray[np.float32]
# Score sparse history rows directly while they hold under 1/16 of the catalogue: measured
# 2-4x faster than the dense product for the speed layer's rounds of 10-50 users at
# MovieLens-1M density (4.5%), and even at 500 users.
SPARSE_SCORING_FACTOR = 16


@dataclass(frozen=True)
class RankingParams:
    """Which model and its hyper-parameters (``streamrec tune`` searches them)."""

    kind: Kind = "auto"  # auto: EASE up to ease_max_movies, iALS beyond
    ease_lambda: float = 1000.0
    ease_max_movies: int = 4000
    factors: int = 20  # PureSVD's
    popularity_prior: float = 0.3
    ials_factors: int = 32
    ials_regularization: float = 50.0
    ials_alpha: float = 3.0  # a rated cell's confidence is 1 + alpha
    ials_iterations: int = 8

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolve(self, n_movies: int) -> Fitted:
        if self.kind != "auto":
            return self.kind
        return "ease" if n_movies <= self.ease_max_movies else "ials"


@dataclass(frozen=True, eq=False)
class RankingModel:
    """The item side of a fitted ranking model. ``weights`` is EASE's movies x movies
    ``B``, iALS's movies x factors ``Y`` or PureSVD's movies x factors ``V``; its rows
    follow ``movie_ids`` (sorted). ``gram``: iALS's ``YᵀY + λI``, what a fold-in needs."""

    kind: Fitted
    movie_ids: I64
    weights: F32
    params: RankingParams
    popularity: F32 | None = None  # training ratings per movie, the most-rated's = 1
    gram: F64 | None = None

    def __post_init__(self) -> None:
        n = len(self.movie_ids)
        square = self.weights.shape == (n, n)
        if self.weights.ndim != 2 or self.weights.shape[0] != n or (self.kind == "ease" and not square):
            raise ValueError(f"{self.kind} weights of shape {self.weights.shape} for {n} movies")
        f = self.weights.shape[1]
        if self.kind == "ials" and (self.gram is None or self.gram.shape != (f, f)):
            raise ValueError(f"iALS needs its {f} x {f} gram matrix")
        if n and not np.all(self.movie_ids[1:] > self.movie_ids[:-1]):
            raise ValueError("ranking model movie ids must be sorted and unique")

    @property
    def factored(self) -> bool:
        """Scores are a user row times an item row (iALS, PureSVD), not EASE's history product."""
        return self.kind != "ease"

    def scores(self, history: sp.csr_matrix, products: F32 | None = None) -> F32:
        """Scores of every known movie for each history row (users x movies), float32:
        scoring all users is memory-bound, and every pass over the matrix costs half.
        EASE's ``products``, when given, are the rows' ``history @ weights`` already
        (:mod:`ml.history_products`); they become the scores."""
        if self.kind == "ease":
            prior = self._prior(history)
            if products is None:
                # Sparse rows times the dense item matrix costs in proportion to the ratings;
                # the dense product (BLAS on every core, without the GIL) only wins once the
                # rows are dense enough to pay for its users x movies x movies work.
                sparse_enough = history.nnz * SPARSE_SCORING_FACTOR < history.shape[0] * history.shape[1]
                out = history @ self.weights if sparse_enough else history.toarray() @ self.weights
                products = np.asarray(out, dtype=np.float32)
            scores: F32 = products
            if prior is not None:
                scores += prior[0][:, None] * prior[1][None, :]
            return scores
        result: F32 = self.user_side(history, products) @ self.item_side.T
        return result

    def history_products(self, budget_bytes: int) -> HistoryProducts | None:
        """A cache of this model's history products for the speed layer's re-ranks (EASE's
        score rows, iALS's fold-in sums; PureSVD keeps none)."""
        if self.kind == "ease":
            return HistoryProducts(self.weights, budget_bytes)
        if self.kind == "ials":
            return HistoryProducts(self.weights, budget_bytes, ials_sums(self.weights))
        return None

    def user_side(self, history: sp.csr_matrix, products: F32 | None = None) -> F32:
        """A factored model's user rows: a score is a user row times an item row
        (``item_side``). iALS folds each history in (``products``: the rows' fold-in sums
        already, from :meth:`history_products`); PureSVD projects it."""
        if self.kind == "ials":
            left = self._fold_in(history, products)
        else:
            left = np.asarray(history @ self.weights, dtype=np.float32)
        prior = self._prior(history)
        if prior is None:
            return left
        # The prior is a rank-one term: one more factor column, inside the same product,
        # instead of a users x movies temporary added afterwards.
        return np.hstack([left, prior[0][:, None]])

    def _fold_in(self, history: sp.csr_matrix, sums: F32 | None = None) -> F32:
        """iALS user factors of 0/1 history rows: each row's exact least-squares solution
        against the fixed item factors (what one more ALS half-step would give it),
        ``x = (YᵀY + λI + alpha Σ y yᵀ)⁻¹ (1 + alpha) Σ y`` over the rated movies."""
        assert self.gram is not None  # __post_init__
        alpha, f, n = self.params.ials_alpha, self.weights.shape[1], history.shape[0]
        if n == 0:
            return np.zeros((0, f), dtype=np.float32)
        if sums is None:
            sums = ials_sums(self.weights)[0](history)
        systems = self.gram + alpha * sums[:, : f * f].reshape(n, f, f).astype(np.float64)
        targets = (1.0 + alpha) * sums[:, f * f:].astype(np.float64)
        # One batched LAPACK call for every user: the systems are symmetric positive
        # definite (gram holds λI), so each has exactly one solution.
        return np.linalg.solve(systems, targets[:, :, None])[:, :, 0].astype(np.float32)

    @cached_property
    def item_side(self) -> F32:
        """A factored model's item rows, with the popularity prior's column when it has one."""
        if self.popularity is None or not self.params.popularity_prior:
            return self.weights
        return np.ascontiguousarray(np.hstack([self.weights, self.popularity[:, None]]))

    @cached_property
    def blocks(self) -> BlockIndex:
        """The item side cut into blocks by row norm (:mod:`ml.block_topk`)."""
        return block_index(self.item_side)

    def _prior(self, history: sp.csr_matrix) -> tuple[F32, F32] | None:
        """Each row's weight of the popularity prior (it fades as a history grows), and
        the movies' popularity it weighs."""
        if self.popularity is None or not self.params.popularity_prior:
            return None
        lengths = np.maximum(np.asarray(history.getnnz(axis=1), dtype=np.float32), 1.0)
        weight = (np.float32(self.params.popularity_prior) / lengths).astype(np.float32)
        return weight, self.popularity

    def columns(self, movie_ids: npt.ArrayLike) -> I64:
        """Each movie's column, -1 for a movie the model does not know."""
        ids = as_ids(movie_ids)
        if len(self.movie_ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.movie_ids, ids), len(self.movie_ids) - 1)
        return np.where(self.movie_ids[pos] == ids, pos, -1).astype(np.int64)

    def history(self, user_ids: I64, rated: RatedPairs) -> sp.csr_matrix:
        """Users (distinct) x known movies, 1 where the user rated the movie."""
        shape = (len(user_ids), len(self.movie_ids))
        if len(user_ids) == 0 or len(rated.user_ids) == 0:
            return sp.csr_matrix(shape, dtype=np.float32)
        order = np.argsort(user_ids, kind="stable")
        sorted_users = user_ids[order]
        pos = np.minimum(np.searchsorted(sorted_users, rated.user_ids), len(user_ids) - 1)
        cols = self.columns(rated.movie_ids)
        keep = (sorted_users[pos] == rated.user_ids) & (cols >= 0)
        data = np.ones(int(keep.sum()), dtype=np.float32)
        matrix = sp.csr_matrix((data, (order[pos[keep]], cols[keep])), shape=shape)
        matrix.sum_duplicates()
        matrix.data[:] = 1.0  # a pair listed twice is still one interaction
        return matrix

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The model as named arrays (the model store keeps them in the version's npz)."""
        arrays: dict[str, npt.NDArray[Any]] = {"movie_ids": self.movie_ids, "weights": self.weights,
                  "kind": np.array(self.kind), "params": np.array(json.dumps(self.params.as_dict()))}
        if self.popularity is not None:
            arrays["popularity"] = self.popularity
        if self.gram is not None:
            arrays["gram"] = self.gram
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]]) -> RankingModel:
        kind = next((known for known in FITTED_KINDS if known == str(arrays["kind"])), None)
        if kind is None:
            raise ValueError(f"unknown ranking model kind {str(arrays['kind'])!r}")
        params = RankingParams(**json.loads(str(arrays["params"])))
        weights = np.ascontiguousarray(arrays["weights"], dtype=np.float32)  # see _ease
        popularity = np.asarray(arrays["popularity"], dtype=np.float32) if "popularity" in arrays else None
        gram = np.asarray(arrays["gram"], dtype=np.float64) if "gram" in arrays else None
        return cls(kind, as_ids(arrays["movie_ids"]), weights, params, popularity, gram)


def interactions(ratings: pd.DataFrame) -> tuple[sp.csr_matrix, I64, I64]:
    """The 0/1 users x movies matrix of a ratings frame, and its (sorted) raw ids."""
    users, user_codes = np.unique(ratings["user_id"].to_numpy(np.int64), return_inverse=True)
    movies, movie_codes = np.unique(ratings["movie_id"].to_numpy(np.int64), return_inverse=True)
    data = np.ones(len(ratings), dtype=np.float32)
    matrix = sp.csr_matrix((data, (user_codes, movie_codes)), shape=(len(users), len(movies)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix, users.astype(np.int64), movies.astype(np.int64)


def fit_ranking(ratings: pd.DataFrame, params: RankingParams = RankingParams()) -> RankingModel:
    """Fit the ranking model on a (cleaned) ratings frame."""
    matrix, _, movies = interactions(ratings)
    counts = np.asarray(matrix.getnnz(axis=0), dtype=np.float32)
    popularity = counts / max(float(counts.max(initial=0.0)), 1.0)
    kind = params.resolve(len(movies))
    if kind == "ease":
        return RankingModel("ease", movies, _ease(matrix, params.ease_lambda), params, popularity)
    if kind == "ials":
        items = _ials(matrix, params)
        gram = items.T.astype(np.float64) @ items.astype(np.float64)
        gram[np.diag_indices_from(gram)] += params.ials_regularization
        return RankingModel("ials", movies, items, params, popularity, gram)
    return RankingModel("puresvd", movies, _puresvd(matrix, params.factors), params, popularity)


def _ease(matrix: sp.csr_matrix, lam: float) -> F32:
    gram = np.asfortranarray((matrix.T @ matrix).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += lam
    # The Gram matrix is symmetric positive definite: its inverse from its Cholesky factor
    # (LAPACK potrf + potri, in place: about n^3 operations, against 2.3 n^3 for solving
    # against the identity; the same inverse to float64 rounding).
    factor, info = scipy.linalg.lapack.dpotrf(gram, lower=False, clean=False, overwrite_a=True)
    if info == 0:
        upper, info = scipy.linalg.lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE's Gram matrix is not positive definite (LAPACK info {info})")
    diagonal = np.diag(upper).astype(np.float32)
    # potri fills only the upper triangle: the lower one is its transpose. Built in float32
    # (what the model keeps) and C order: a sparse history times a Fortran matrix copies
    # all of it (scipy ravels it) on every product.
    half = np.triu(upper).astype(np.float32, order="C")
    del gram, factor, upper
    weights: F32 = half + half.T
    weights[np.diag_indices_from(weights)] = 0.0
    weights /= -diagonal[None, :]  # B = I - P diag(1 / diag(P)), the diagonal zero
    return weights


def _ials(matrix: sp.csr_matrix, params: RankingParams) -> F32:
    """iALS item factors by ``implicit`` (conjugate-gradient steps, its own threads).
    Overwrites the values of ``matrix``."""
    from implicit.cpu.als import AlternatingLeastSquares  # its import takes 0.3 s

    factors = max(1, min(params.ials_factors, min(matrix.shape)))
    if matrix.nnz == 0:
        return np.zeros((matrix.shape[1], factors), dtype=np.float32)
    # implicit reads the cells' values as confidences: set in place (the 0/1 matrix is
    # not needed after; a copy would cost 8 bytes a rating at the fit's peak).
    confidence = matrix
    confidence.data[:] = 1.0 + params.ials_alpha
    # implicit runs its own threads; BLAS threads inside them only contend (it warns
    # when BLAS may start any).
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = AlternatingLeastSquares(factors=factors, regularization=params.ials_regularization,
                                        alpha=1.0, iterations=params.ials_iterations, random_state=0,
                                        calculate_training_loss=False)
        model.fit(confidence, show_progress=False)
    return np.ascontiguousarray(model.item_factors, dtype=np.float32)


def _puresvd(matrix: sp.csr_matrix, factors: int) -> F32:
    k = min(factors, min(matrix.shape) - 1)
    if k < 1:
        return np.zeros((matrix.shape[1], 0), dtype=np.float32)
    _, _, vt = svds(matrix.astype(np.float64), k=k, random_state=0)
    return np.ascontiguousarray(vt.T, dtype=np.float32)


def rank(
    model: RankingModel,
    user_ids: npt.ArrayLike,
    *,
    k: int,
    rated: RatedPairs,
    candidates: npt.ArrayLike | None = None,
    chunk_size: int = DEFAULT_CHUNK_USERS,
    excluded: RatedPairs | None = None,
    kept: HistoryProducts | None = None,
) -> TopK:
    """Each user's ``k`` best candidate movies by the model's score (values are the
    ranking scores), rated ones excluded, and the pairs of ``excluded`` too (hidden
    movies: left out of the list, not taken as history). Candidates default to the
    movies the model knows; one it does not know scores ``-inf`` and is never suggested.
    ``kept``: the model's history products from earlier calls (the speed layer's,
    :meth:`RankingModel.history_products`), used and updated."""
    reuse = kept if model.kind != "puresvd" else None
    if model.factored and len(model.movie_ids) > HEAD_MOVIES + BLOCK_MOVIES:
        return _rank_by_blocks(model, user_ids, k=k, rated=rated, candidates=candidates,
                               chunk_size=chunk_size, excluded=excluded, kept=reuse)
    movies = model.movie_ids if candidates is None else sorted_unique(candidates)
    cols = model.columns(movies)
    known = cols >= 0

    identity = bool(known.all()) and np.array_equal(cols, np.arange(len(model.movie_ids)))
    gather = np.where(known, cols, 0)

    history = _history_rows(model, user_ids, rated)

    def block(users: I64, _movies: I64) -> F32:
        rows = history(users)
        full = model.scores(rows, None if reuse is None else reuse.products(users, rows))
        if identity:  # the candidates are the model's movies: no copy
            return full
        out: F32 = np.take(full, gather, axis=1)  # one gather pass
        out[:, ~known] = -np.inf
        return out

    # One thread with kept products: they leave little for a second one but the Python of
    # updating them, and HistoryProducts takes one caller at a time.
    return rank_top_k(block, user_ids, movies, k=k, rated=rated.plus(excluded), chunk_size=chunk_size,
                      threads=None if reuse is None else 1)


def _history_rows(model: RankingModel, user_ids: npt.ArrayLike,
                  rated: RatedPairs) -> Callable[[I64], sp.csr_matrix]:
    """History rows of any of ``user_ids``, from one history matrix of them all: built
    per chunk, each chunk would search every rated pair again."""
    users = sorted_unique(user_ids)
    matrix = model.history(users, rated)

    def rows(chunk: I64) -> sp.csr_matrix:
        return matrix[np.searchsorted(users, chunk)]

    return rows


def _rank_by_blocks(
    model: RankingModel,
    user_ids: npt.ArrayLike,
    *,
    k: int,
    rated: RatedPairs,
    candidates: npt.ArrayLike | None,
    chunk_size: int,
    excluded: RatedPairs | None,
    kept: HistoryProducts | None,
) -> TopK:
    """:func:`rank` of a factored model over a large catalogue, scoring only the movie
    blocks that can reach each user's list (:mod:`ml.block_topk`): the same rows."""
    blocked = None
    if candidates is not None:
        allowed = np.isin(model.movie_ids, as_ids(candidates))
        blocked = None if allowed.all() else ~allowed

    history = _history_rows(model, user_ids, rated)

    def chunk_top_k(users: I64, rows: I64, cols: I64) -> tuple[I64, F64]:
        matrix = history(users)
        left = model.user_side(matrix, None if kept is None else kept.products(users, matrix))
        return block_top_k(left, model.blocks, k, rows, cols, blocked)

    # One thread with kept products, as in rank.
    return rank_chunks(chunk_top_k, user_ids, model.movie_ids, rated=rated.plus(excluded),
                       chunk_size=chunk_size, threads=None if kept is None else 1)


def similar_movies(model: RankingModel, k: int, *, chunk: int = 1024) -> tuple[I64, I64, F64]:
    """Each known movie's ``k`` most similar others by the model's item side, best first:
    EASE's weight from one movie to another (the score a history of that one movie gives
    it), a factored model's cosine of the movies' factor rows. Flat (movie, similar, score)
    columns."""
    n = len(model.movie_ids)
    k = min(k, n - 1)
    if k < 1:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float64)
    if model.factored:
        norms = np.linalg.norm(model.weights, axis=1, keepdims=True)
        unit = model.weights / np.maximum(norms, 1e-12)
    out_m, out_s, out_v = [], [], []
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        block = (model.weights[rows] if model.kind == "ease" else unit[rows] @ unit.T).astype(np.float64)
        block[np.arange(len(rows)), rows] = -np.inf  # a movie is not similar to itself
        idx, vals = top_k_rows(block, k)
        out_m.append(np.repeat(model.movie_ids[rows], k))
        out_s.append(model.movie_ids[idx.reshape(-1)])
        out_v.append(vals.reshape(-1))
    return np.concatenate(out_m), np.concatenate(out_s), np.concatenate(out_v)
