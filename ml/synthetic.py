"""Deterministic synthetic MovieLens-like data: users, movies, ratings.

Shaped after MovieLens-1M, so that what ranks well on it ranks well on real data:

* Ratings per user: at least 20 (MovieLens keeps only such users; fewer when the
  requested size does not allow it), the rest log-normal, the heaviest users capped.
* Movie popularity: Zipf-like over a random order of the movies, with a flattened head
  and a long tail of rarely rated movies.
* Which movies a user rates depends on their taste: each user draws their number of
  movies without replacement with P(movie i) ∝ popularity_i · exp(taste · p_u·q_i).
  Co-occurrence then carries taste, and a top-N model beats a popularity chart, as on
  real data.
* Ratings: ``b_u + b_i + affinity + noise`` mapped to stars by rank, so that the star
  shares are MovieLens' own.  ``b_i`` rises with popularity; the affinity shares the
  selection taste only in part (``taste_overlap``): users rate higher what they chose
  by taste, but watching and liking are not the same thing — predicted rating alone is
  a weak ranking, as on real data.

Every step is vectorised numpy: MovieLens-1M scale takes about a second.  Same
arguments and seed → same frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.genres import GENRES, Genres
from ml.scoring import F64, I64

ML_100K = {"n_users": 943, "n_movies": 1682, "n_ratings": 100_000}
ML_1M = {"n_users": 6040, "n_movies": 3706, "n_ratings": 1_000_209}
ML_LATEST_SMALL = {"n_users": 610, "n_movies": 9742, "n_ratings": 100_836}  # a large catalogue

_START = pd.Timestamp("2000-04-25", tz="UTC").value // 10**9  # ml-1m's first day
_SPAN_SECONDS = 3 * 365 * 24 * 3600

MIN_USER_RATINGS = 20  # as in the MovieLens 100k / 1M sets
# Star shares, lowest star first: ml-1m (1..5 stars) and ml-latest-small (0.5..5).
_WHOLE_STAR_SHARES = (6.0, 11.0, 26.0, 35.0, 23.0)
_HALF_STAR_SHARES = (1.4, 2.8, 1.8, 7.5, 5.5, 19.9, 13.0, 26.6, 8.5, 13.1)

# Calibrated on ml-1m's shape (ratings per user/movie, top shares, tail, rank slope).
_ACTIVITY_SIGMA = 1.1  # log-normal spread of ratings per user beyond the minimum
_ACTIVITY_CAP = 0.6  # no user rates more than this share of the movies (when it fits)
_HEAD_SHIFT = 0.012  # Zipf over (rank + shift * n_movies): the top movies level off
_TAIL_START = 0.42  # from this popularity rank share on, weights fall off faster ...
_TAIL_DECADES = 1.75  # ... by this many powers of ten down to the least popular movie
_BLOCK_CELLS = 1 << 21  # (users x movies) cells drawn at a time: ~8 MB of float32

_USER_BIAS_SD = 0.35
_MOVIE_BIAS_SD = 0.3
_POPULARITY_BIAS = 0.3  # movie bias per sd of the Zipf log weight: popular = rated higher
_RATING_TASTE = 0.6  # weight of the user's affinity for the movie in the rating

_ADJECTIVES = (
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Midnight", "Frozen",
    "Wild", "Distant", "Secret", "Burning", "Lonely", "Electric", "Savage", "Gentle",
    "Forgotten", "Endless", "Bitter", "Hollow", "Velvet", "Iron", "Paper", "Neon",
)  # fmt: skip
_NOUNS = (
    "Harbor", "River", "Empire", "Garden", "Signal", "Horizon", "Mirror", "Kingdom",
    "Station", "Orchard", "Frontier", "Lantern", "Circus", "Voyage", "Winter", "Canyon",
    "Letter", "Island", "Machine", "Anthem", "Shadow", "Tide", "Crown", "City",
)  # fmt: skip
_ROLES = (
    "detective", "widow", "pilot", "chef", "smuggler", "teacher", "boxer", "astronomer",
    "thief", "violinist", "nurse", "journalist", "farmer", "drifter", "senator", "diver",
)  # fmt: skip
_PLACES = (
    "a border town", "1970s Lisbon", "a drowned valley", "the outer colonies",
    "a failing circus", "post-war Vienna", "a remote lighthouse", "the Paris underground",
    "a desert motel", "a mountain monastery", "a flooded Venice", "a night train to Moscow",
)  # fmt: skip
_VERBS = (
    "uncovers", "protects", "chases", "betrays", "rescues", "hunts for", "falls for",
    "outwits",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class SyntheticData:
    users: pd.DataFrame  # id
    movies: pd.DataFrame  # id, title, overview, popularity (= number of ratings), genres
    ratings: pd.DataFrame  # user_id, movie_id, rating, rated_at


def generate(
    n_users: int = ML_100K["n_users"],
    n_movies: int = ML_100K["n_movies"],
    n_ratings: int = ML_100K["n_ratings"],
    *,
    seed: int = 0,
    n_factors: int = 8,
    zipf_exponent: float = 1.1,
    noise: float = 0.65,
    taste: float = 1.25,
    taste_overlap: float = 0.55,
    half_stars: bool = True,
    min_user_ratings: int = MIN_USER_RATINGS,
) -> SyntheticData:
    """Users ``1..n_users``, movies ``1..n_movies`` and exactly ``n_ratings`` ratings.

    ``taste`` weighs the user's latent taste against popularity in which movies they
    rate (0: popularity alone); ``taste_overlap`` is the correlation of the taste that
    drives the ratings with the one that drives that choice.  ``zipf_exponent`` is the
    popularity exponent before taste spreads the choices (realised: ≈ 0.69 at ml-1m
    scale).  ``noise`` is the standard deviation of the rating noise, next to 0.35 of
    the user bias, ~0.4 of the movie bias and 0.6 of the affinity, before the ratings
    are mapped to stars.  Ratings are half stars 0.5..5.0 (ml-latest) or, with
    ``half_stars=False``, whole stars 1..5 (ml-100k, ml-1m).
    """
    if n_users < 1 or n_movies < 1 or n_ratings < 0:
        raise ValueError("need at least one user and one movie, and n_ratings >= 0")
    if n_ratings > n_users * n_movies:
        raise ValueError(
            f"{n_ratings} ratings do not fit {n_users} users x {n_movies} movies "
            "(each pair is rated at most once)"
        )
    rng = np.random.default_rng(seed)
    per_user = _ratings_per_user(rng, n_users, n_movies, n_ratings, min_user_ratings)
    order = rng.permutation(n_movies)  # movie order[k] has popularity rank k + 1
    head, full = _popularity_logits(n_movies, zipf_exponent)
    log_pop, head_pop = np.empty(n_movies), np.empty(n_movies)
    log_pop[order], head_pop[order] = full, head

    # Taste: p_u·q_i has a standard deviation of 1.
    scale = n_factors**-0.25
    p = rng.normal(0.0, scale, (n_users, n_factors))
    q = rng.normal(0.0, scale, (n_movies, n_factors))
    users, movies = np.divmod(_pick_movies(rng, log_pop, taste * p, q, per_user), n_movies)

    # Rating taste: correlated with the selection taste, with factors of its own.
    own_p = rng.normal(0.0, scale, (n_users, n_factors))
    own_q = rng.normal(0.0, scale, (n_movies, n_factors))
    affinity = taste_overlap * _dot(p, q, users, movies) + np.sqrt(
        max(0.0, 1.0 - taste_overlap**2)
    ) * _dot(own_p, own_q, users, movies)
    b_u = rng.normal(0.0, _USER_BIAS_SD, n_users)
    # The movie bias follows the Zipf head (not the tail's fall-off): the least popular
    # movies are rated lowest, but not absurdly low.
    b_i = _POPULARITY_BIAS * _standardised(head_pop) + rng.normal(0.0, _MOVIE_BIAS_SD, n_movies)
    raw = b_u[users] + b_i[movies] + _RATING_TASTE * affinity
    raw += rng.normal(0.0, noise, len(raw))
    rating = _to_stars(raw, half_stars)
    seconds = _START + rng.integers(0, _SPAN_SECONDS, len(raw))

    counts = np.bincount(movies, minlength=n_movies).astype(np.float64)
    return SyntheticData(
        users=_users(n_users),
        movies=_movies(rng, n_movies, counts),
        ratings=_ratings(users, movies, rating, seconds),
    )


def _users(n_users: int) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(1, n_users + 1, dtype=np.int64)})


def _ratings(users: I64, movies: I64, rating: F64, seconds: I64) -> pd.DataFrame:
    """The ratings frame of 0-based user and movie indexes, stars and epoch seconds."""
    return pd.DataFrame(
        {
            "user_id": users + 1,
            "movie_id": movies + 1,
            "rating": rating,
            "rated_at": pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).astype(
                "datetime64[ns, UTC]"
            ),
        }
    )


def _ratings_per_user(
    rng: np.random.Generator, n_users: int, n_movies: int, n_ratings: int, minimum: int,
    sigma: float = _ACTIVITY_SIGMA,
) -> I64:
    """Ratings per user summing to ``n_ratings``: ``minimum`` (or what fits) plus a
    log-normal share (spread ``sigma``) of the rest, no user above the cap."""
    floor = min(minimum, n_ratings // n_users, n_movies)
    # The cap keeps the heaviest users MovieLens-like (ml-1m's: 62% of the movies),
    # unless the requested density needs more.
    cap = min(n_movies, int(np.ceil(max(_ACTIVITY_CAP * n_movies, 2 * n_ratings / n_users))))
    weights = rng.lognormal(0.0, sigma, n_users)
    extra = _capped_shares(weights, n_ratings - floor * n_users, cap - floor)
    return (extra + floor).astype(np.int64)


def _capped_shares(weights: F64, total: int, cap: int) -> I64:
    """Integers ``<= cap`` summing to ``total`` (which must fit), proportional to
    ``weights`` where the cap allows (water filling, then largest remainders)."""
    share = np.zeros(len(weights))
    free = np.ones(len(weights), dtype=bool)
    while free.any():
        share[free] = weights[free] * ((total - share[~free].sum()) / weights[free].sum())
        over = free & (share > cap)
        if not over.any():
            break
        share[over] = cap
        free &= ~over
    counts = np.minimum(np.floor(share), cap).astype(np.int64)
    remainder = np.where(counts < cap, share - counts, -1.0)
    counts[np.argsort(-remainder, kind="stable")[: total - int(counts.sum())]] += 1
    return counts


def _popularity_logits(n_movies: int, zipf_exponent: float) -> tuple[F64, F64]:
    """Log popularity by rank (most popular first): the Zipf head alone, and with the
    long tail's faster fall-off."""
    rank = np.arange(1, n_movies + 1, dtype=np.float64)
    head = -zipf_exponent * np.log(rank + _HEAD_SHIFT * n_movies)
    into_tail = np.maximum(rank / n_movies - _TAIL_START, 0.0) / (1.0 - _TAIL_START)
    return head, head - _TAIL_DECADES * np.log(10.0) * into_tail


def _pick_movies(
    rng: np.random.Generator, log_pop: F64, p: F64, q: F64, per_user: I64
) -> I64:
    """Sorted pair codes ``user * n_movies + movie``: ``per_user[u]`` distinct movies for
    each user, drawn without replacement with P ∝ exp(log_pop_i + p_u·q_i).

    An exponential race (equivalent to Gumbel top-k): each cell draws E ~ Exp(1) and a
    user takes the movies with the smallest E / weight, a block of users at a time.
    """
    n_users, n_movies = len(p), len(q)
    rows = max(1, _BLOCK_CELLS // n_movies)
    codes: list[I64] = []
    for start in range(0, n_users, rows):
        logit = log_pop + p[start : start + rows] @ q.T
        # Relative to each user's best movie, clipped so that float32 cannot overflow.
        spread = np.minimum(logit.max(axis=1, keepdims=True) - logit, 80.0)
        keys = rng.standard_exponential(logit.shape, dtype=np.float32)
        keys *= np.exp(spread.astype(np.float32))
        user, movie = np.nonzero(_smallest_per_row(keys, per_user[start : start + rows]))
        codes.append((user + start).astype(np.int64) * n_movies + movie)
    return np.concatenate(codes)


def _smallest_per_row(keys: npt.NDArray[np.float32], n: I64) -> npt.NDArray[np.bool_]:
    """Mask of the ``n[r]`` smallest keys of each row ``r``; ties by lowest column."""
    last = np.sort(keys, axis=1)[np.arange(len(keys)), np.maximum(n - 1, 0)]
    last = np.where(n > 0, last, -np.inf).astype(np.float32)[:, None]
    below = keys < last
    tied = keys == last
    room = n - below.sum(axis=1)
    take: npt.NDArray[np.bool_] = below | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))
    return take


def _dot(p: F64, q: F64, users: I64, movies: I64) -> F64:
    out: F64 = np.einsum("ij,ij->i", p[users], q[movies])
    return out


def _standardised(values: F64) -> F64:
    sd = float(values.std())
    return (values - values.mean()) / sd if sd > 0 else np.zeros_like(values)


def _to_stars(raw: F64, half_stars: bool) -> F64:
    """Stars by rank of ``raw``: the lowest 6% get 1 star, and so on (MovieLens' shares)."""
    shares = np.asarray(_HALF_STAR_SHARES if half_stars else _WHOLE_STAR_SHARES)
    step = 0.5 if half_stars else 1.0
    stars = step * np.arange(1, len(shares) + 1)
    ends = np.round(np.cumsum(shares) / shares.sum() * len(raw)).astype(np.int64)
    out = np.empty(len(raw))
    out[np.argsort(raw, kind="stable")] = stars[
        np.searchsorted(ends, np.arange(len(raw)), side="right")
    ]
    return out


def _movies(rng: np.random.Generator, n: int, counts: npt.NDArray[np.float64]) -> pd.DataFrame:
    adj = rng.integers(0, len(_ADJECTIVES), (n, 2))
    noun = rng.integers(0, len(_NOUNS), (n, 2))
    role = rng.integers(0, len(_ROLES), n)
    verb = rng.integers(0, len(_VERBS), n)
    place = rng.integers(0, len(_PLACES), n)
    year = rng.integers(1930, 2024, n)
    genres = _genres(rng, n)
    titles = [
        f"The {_ADJECTIVES[a[0]]} {_NOUNS[b[0]]} ({y})"
        for a, b, y in zip(adj.tolist(), noun.tolist(), year.tolist(), strict=True)
    ]
    overviews = [
        f"A {_ROLES[r]} {_VERBS[v]} the {_ADJECTIVES[a[1]].lower()} "
        f"{_NOUNS[b[1]].lower()} in {_PLACES[p]}."
        for r, v, a, b, p in zip(
            role.tolist(), verb.tolist(), adj.tolist(), noun.tolist(), place.tolist(), strict=True
        )
    ]
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "title": pd.Series(titles, dtype="str"),
            "overview": pd.Series(overviews, dtype="str"),
            "popularity": counts,
            "genres": pd.Series(genres, dtype=object),
        }
    )


def _genres(rng: np.random.Generator, n: int) -> list[Genres]:
    """1 to 3 distinct MovieLens genres per movie, in the list's order (as MovieLens
    writes them)."""
    count = rng.integers(1, 4, n)
    picks = np.argsort(rng.random((n, len(GENRES))), axis=1)[:, :3]
    return [tuple(GENRES[g] for g in sorted(row[:k])) for row, k in zip(picks.tolist(), count.tolist(),
                                                                     strict=True)]
