"""Synthetic MovieLens-like ratings of any size, without a users x movies matrix.

:func:`ml.synthetic.generate` draws each user's movies by an exponential race over the
whole catalogue: memory and time ∝ users x movies, which is 9.6 billion cells at the
ml-25m shape.  :func:`generate_sparse` makes frames of the same kind in memory and time
∝ ratings:

* Ratings per user: the same rule (at least 20, the rest log-normal, the heaviest
  capped), with a wider spread by default: ml-25m's median user (71 ratings) is further
  below its mean (154) than ml-1m's (96 of 166).
* Movie choice: the same popularity curve (Zipf with a flattened head and a faster
  falling tail, over a random order of the movies), tilted by taste.  Taste is
  clustered: each movie belongs to one of ``n_tastes`` tastes with a latent vector
  ``c_t``, and user ``u`` picks movie ``i`` of taste ``t`` with
  P ∝ popularity_i · exp(taste · p_u·c_t).  That factorises — first a taste from the
  user's mixture, then a movie of that taste by popularity — so one draw is two binary
  searches.  Each user's first ``n_u`` distinct draws are kept (draws repeating a movie
  are made again, round after round): exactly sampling without replacement, as the
  race does.  The few users who rate a large share of the catalogue run the exact race
  of :mod:`ml.synthetic` on their own rows instead.
* Ratings: as :mod:`ml.synthetic` — user and movie biases (popular movies rated
  higher), an affinity that shares the selection taste only in part, noise, mapped to
  MovieLens' star shares by rank — computed on the chosen pairs only.

Vectorised numpy throughout; same arguments and seed → same frames.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ml.scoring import F64, I64
from ml.synthetic import (
    _MOVIE_BIAS_SD,
    _POPULARITY_BIAS,
    _RATING_TASTE,
    _SPAN_SECONDS,
    _START,
    _USER_BIAS_SD,
    MIN_USER_RATINGS,
    SyntheticData,
    _dot,
    _movies,
    _pick_movies,
    _popularity_logits,
    _ratings,
    _ratings_per_user,
    _standardised,
    _to_stars,
    _users,
)

ML_25M = {"n_users": 162_541, "n_movies": 59_047, "n_ratings": 25_000_095}
# Movies grow as the square root of the ratings when the ml-25m shape is scaled down
# (users grow linearly): see :func:`ml25m_shape`.
CATALOGUE_EXPONENT = 0.5

_HEAVY_SHARE = 0.05  # users rating more than this share of the movies run the exact race
_MAX_ROUNDS = 40  # redraw rounds before the users still short of movies run the race
_CHUNK = 1 << 21  # draws at a time (bounds the draws x tastes comparison)


def ml25m_shape(n_ratings: int) -> dict[str, int]:
    """The ml-25m shape scaled to ``n_ratings``: users ∝ ratings, movies ∝ √ratings.

    Users scale linearly, so ratings per user keep ml-25m's distribution (min 20,
    mean 154) at every size.  The catalogue grows more slowly: scaling a long-tailed
    data set down keeps its popular head and loses the tail of movies a handful of
    people rated (taking a share f of ml-25m's users leaves movies with a few ratings
    only by chance), roughly as f^0.5 — and the sizes of MovieLens' own releases
    follow a similar law (ml-100k 1,682 movies, ml-1m 3,706, ml-10m 10,681, ml-25m
    59,047: about ∝ ratings^0.6).  At 1M ratings: 6,502 users x 11,809 movies (0.26%
    → 1.3% dense), which is above ``ease_max_movies``, so the ranking model is
    iALS at every size and each phase is the same code at every size.
    """
    share = n_ratings / ML_25M["n_ratings"]
    n_users = max(1, round(ML_25M["n_users"] * share))
    n_movies = max(1, round(ML_25M["n_movies"] * share**CATALOGUE_EXPONENT))
    # A tiny size must still hold its ratings (each pair at most once).
    n_movies = max(n_movies, min(-(-n_ratings // n_users) * 2, ML_25M["n_movies"]))
    return {"n_users": n_users, "n_movies": n_movies, "n_ratings": n_ratings}


def generate_sparse(
    n_users: int,
    n_movies: int,
    n_ratings: int,
    *,
    seed: int = 0,
    n_factors: int = 8,
    n_tastes: int = 24,
    zipf_exponent: float = 1.1,
    noise: float = 0.65,
    taste: float = 1.25,
    taste_overlap: float = 0.55,
    activity_sigma: float = 1.4,
    half_stars: bool = True,
    min_user_ratings: int = MIN_USER_RATINGS,
) -> SyntheticData:
    """Users ``1..n_users``, movies ``1..n_movies`` and exactly ``n_ratings`` distinct
    (user, movie) ratings, in memory ∝ ``n_ratings`` (arguments as
    :func:`ml.synthetic.generate`; ``n_tastes`` clusters of taste)."""
    if n_users < 1 or n_movies < 1 or n_ratings < 0 or n_tastes < 1:
        raise ValueError("need at least one user, one movie and one taste, and n_ratings >= 0")
    if n_ratings > n_users * n_movies:
        raise ValueError(f"{n_ratings} ratings do not fit {n_users} users x {n_movies} movies")
    rng = np.random.default_rng(seed)
    per_user = _ratings_per_user(rng, n_users, n_movies, n_ratings, min_user_ratings, activity_sigma)
    order = rng.permutation(n_movies)  # movie order[k] has popularity rank k + 1
    head, full = _popularity_logits(n_movies, zipf_exponent)
    log_pop, head_pop = np.empty(n_movies), np.empty(n_movies)
    log_pop[order], head_pop[order] = full, head

    scale = n_factors**-0.25  # p_u·c_t has a standard deviation of 1
    p = rng.normal(0.0, scale, (n_users, n_factors))
    centres = rng.normal(0.0, scale, (n_tastes, n_factors))
    taste_of = rng.integers(0, n_tastes, n_movies)
    users, movies = _pick(rng, log_pop, taste * p, centres, taste_of, per_user)

    own_p = rng.normal(0.0, scale, (n_users, n_factors))
    own_q = rng.normal(0.0, scale, (n_movies, n_factors))
    affinity = taste_overlap * _chunked_dot(p, centres[taste_of], users, movies)
    affinity += np.sqrt(max(0.0, 1.0 - taste_overlap**2)) * _chunked_dot(own_p, own_q, users, movies)
    b_u = rng.normal(0.0, _USER_BIAS_SD, n_users)
    b_i = _POPULARITY_BIAS * _standardised(head_pop) + rng.normal(0.0, _MOVIE_BIAS_SD, n_movies)
    raw = affinity
    raw *= _RATING_TASTE
    raw += b_u[users]
    raw += b_i[movies]
    raw += rng.normal(0.0, noise, len(raw))
    rating = _to_stars(raw, half_stars)
    del raw, affinity
    seconds = _START + rng.integers(0, _SPAN_SECONDS, len(rating))
    counts = np.bincount(movies, minlength=n_movies).astype(np.float64)
    return SyntheticData(
        users=_users(n_users),
        movies=_movies(rng, n_movies, counts),
        ratings=_ratings(users, movies, rating, seconds),
    )


def _chunked_dot(p: F64, q: F64, users: I64, movies: I64) -> F64:
    """``p[users]·q[movies]`` row by row, without ratings x factors temporaries."""
    out = np.empty(len(users))
    for start in range(0, len(users), _CHUNK):
        end = start + _CHUNK
        out[start:end] = _dot(p, q, users[start:end], movies[start:end])
    return out


def _pick(
    rng: np.random.Generator, log_pop: F64, p: F64, centres: F64, taste_of: I64, per_user: I64
) -> tuple[I64, I64]:
    """(user, movie) index pairs sorted by user then movie: ``per_user[u]`` distinct
    movies for each user, drawn without replacement with
    P(i) ∝ exp(log_pop_i + p_u·centres[taste_of[i]])."""
    n_users, n_movies = len(p), len(log_pop)
    weight = np.exp(log_pop - log_pop.max())
    by_taste = np.argsort(taste_of, kind="stable")
    cumulative = np.cumsum(weight[by_taste])
    mass = np.bincount(taste_of, weights=weight, minlength=len(centres))
    mass_before = np.concatenate(([0.0], np.cumsum(mass)[:-1]))
    with np.errstate(divide="ignore"):
        mix = p @ centres.T + np.log(mass)  # a taste without movies: log 0 = -inf
    mix = np.exp(mix - mix.max(axis=1, keepdims=True)).cumsum(axis=1)
    mix /= mix[:, -1:]

    def draw(users: I64) -> I64:
        out = np.empty(len(users), dtype=np.int64)
        for start in range(0, len(users), _CHUNK):
            u = users[start : start + _CHUNK]
            t = (mix[u] < rng.random(len(u))[:, None]).sum(axis=1)
            target = mass_before[t] + rng.random(len(u)) * mass[t]
            pos = np.minimum(np.searchsorted(cumulative, target, side="right"), n_movies - 1)
            out[start : start + _CHUNK] = by_taste[pos]
        return out

    heavy = per_user > _HEAVY_SHARE * n_movies
    parts: list[I64] = []  # disjoint sorted arrays of pair codes user * n_movies + movie
    got = np.zeros(n_users, dtype=np.int64)
    need = np.where(heavy, 0, per_user)
    for _ in range(_MAX_ROUNDS):
        if not need.any():
            break
        users = np.repeat(np.arange(n_users, dtype=np.int64), need)
        fresh = _distinct_sorted(users * n_movies + draw(users))
        for part in parts:  # the first part holds most codes; later ones are small
            fresh = fresh[~_contains(part, fresh)]
        parts.append(fresh)
        got += np.bincount(fresh // n_movies, minlength=n_users)
        need = np.where(heavy, 0, per_user - got)
    codes = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    del parts
    short = need > 0
    if short.any():  # rare: users whose taste concentrates on few movies
        codes = codes[~short[codes // n_movies]]
        heavy |= short
    raced = np.flatnonzero(heavy)
    if len(raced):
        picked = _pick_movies(rng, log_pop, p[raced], centres[taste_of], per_user[raced])
        user, movie = np.divmod(picked, n_movies)
        codes = np.sort(np.concatenate((codes, raced[user] * n_movies + movie)))
    users, movies = np.divmod(codes, n_movies)
    return users, movies


def _distinct_sorted(values: I64) -> I64:
    values = np.sort(values)
    out: I64 = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return out


def _contains(sorted_values: I64, values: I64) -> npt.NDArray[np.bool_]:
    """Whether each of ``values`` is in ``sorted_values``."""
    if len(sorted_values) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    found: npt.NDArray[np.bool_] = sorted_values[pos] == values
    return found
