"""Deterministic synthetic MovieLens-like data: users, movies, ratings.

Ratings come from a latent-factor model (``mu + b_u + b_i + p_u·q_i + noise``,
rounded to 0.5 steps in 0.5..5.0), on (user, movie) pairs drawn with a Zipf-like
movie popularity and a log-normal user activity, each pair at most once.  Every
step is vectorised numpy, so MovieLens-1M scale takes a few seconds.  Same
arguments and seed → same frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.scoring import I64

ML_100K = {"n_users": 943, "n_movies": 1682, "n_ratings": 100_000}
ML_1M = {"n_users": 6040, "n_movies": 3706, "n_ratings": 1_000_209}

_START = pd.Timestamp("2000-04-25", tz="UTC").value // 10**9  # ml-1m's first day
_SPAN_SECONDS = 3 * 365 * 24 * 3600

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
    movies: pd.DataFrame  # id, title, overview, popularity (= number of ratings)
    ratings: pd.DataFrame  # user_id, movie_id, rating, rated_at


def generate(
    n_users: int = ML_100K["n_users"],
    n_movies: int = ML_100K["n_movies"],
    n_ratings: int = ML_100K["n_ratings"],
    *,
    seed: int = 0,
    n_factors: int = 8,
    zipf_exponent: float = 0.8,
    noise: float = 0.8,
) -> SyntheticData:
    """Users ``1..n_users``, movies ``1..n_movies`` and exactly ``n_ratings`` ratings."""
    if n_users < 1 or n_movies < 1 or n_ratings < 0:
        raise ValueError("need at least one user and one movie, and n_ratings >= 0")
    if n_ratings > n_users * n_movies:
        raise ValueError(
            f"{n_ratings} ratings do not fit {n_users} users x {n_movies} movies "
            "(each pair is rated at most once)"
        )
    rng = np.random.default_rng(seed)
    # Popularity: Zipf-like weights over a random order of the movies.
    rank = rng.permutation(n_movies) + 1
    movie_w = rank.astype(np.float64) ** -zipf_exponent
    user_w = rng.lognormal(0.0, 1.0, n_users)
    codes = _sample_pairs(rng, user_w / user_w.sum(), movie_w / movie_w.sum(), n_ratings)
    users, movies = np.divmod(codes, n_movies)

    # Latent model; popular movies are rated a little higher, as in MovieLens.
    scale = np.sqrt(0.6 / np.sqrt(n_factors))  # p·q has a standard deviation of ~0.6
    p = rng.normal(0.0, scale, (n_users, n_factors))
    q = rng.normal(0.0, scale, (n_movies, n_factors))
    b_u = rng.normal(0.0, 0.35, n_users)
    log_w = np.log(movie_w)
    b_i = 0.25 * (log_w - log_w.mean()) / log_w.std() + rng.normal(0.0, 0.3, n_movies)
    raw = 3.4 + b_u[users] + b_i[movies] + np.einsum("ij,ij->i", p[users], q[movies])
    raw += rng.normal(0.0, noise, n_ratings)
    rating = np.clip(np.round(raw * 2.0) / 2.0, 0.5, 5.0)
    seconds = _START + rng.integers(0, _SPAN_SECONDS, n_ratings)

    ratings = pd.DataFrame(
        {
            "user_id": users + 1,
            "movie_id": movies + 1,
            "rating": rating,
            "rated_at": pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).astype(
                "datetime64[ns, UTC]"
            ),
        }
    )
    counts = np.bincount(movies, minlength=n_movies).astype(np.float64)
    return SyntheticData(
        users=pd.DataFrame({"id": np.arange(1, n_users + 1, dtype=np.int64)}),
        movies=_movies(rng, n_movies, counts),
        ratings=ratings,
    )


def _sample_pairs(
    rng: np.random.Generator,
    user_p: npt.NDArray[np.float64],
    movie_p: npt.NDArray[np.float64],
    n: int,
) -> I64:
    """``n`` distinct pair codes ``user * n_movies + movie``, sorted."""
    n_movies = len(movie_p)
    total = len(user_p) * n_movies
    codes = np.zeros(0, dtype=np.int64)
    for _ in range(12):
        missing = n - len(codes)
        if missing <= 0:
            break
        draw = int(missing * 1.3) + 16  # duplicates and collisions eat some draws
        new = rng.choice(len(user_p), draw, p=user_p) * n_movies + rng.choice(
            n_movies, draw, p=movie_p
        )
        codes = _sorted_unique(np.concatenate([codes, new]))
    if len(codes) < n:
        # Nearly every pair is taken: fill from the free ones, uniformly.
        free = np.setdiff1d(np.arange(total, dtype=np.int64), codes, assume_unique=True)
        codes = np.sort(np.concatenate([codes, rng.choice(free, n - len(codes), replace=False)]))
    if len(codes) > n:
        codes = np.sort(rng.choice(codes, n, replace=False))
    return codes.astype(np.int64)


def _sorted_unique(codes: I64) -> I64:
    # Sort-based: numpy's hash-based np.unique is several times slower on int64 here.
    codes = np.sort(codes)
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = codes[1:] != codes[:-1]
    return codes[keep]


def _movies(rng: np.random.Generator, n: int, counts: npt.NDArray[np.float64]) -> pd.DataFrame:
    adj = rng.integers(0, len(_ADJECTIVES), (n, 2))
    noun = rng.integers(0, len(_NOUNS), (n, 2))
    role = rng.integers(0, len(_ROLES), n)
    verb = rng.integers(0, len(_VERBS), n)
    place = rng.integers(0, len(_PLACES), n)
    year = rng.integers(1930, 2024, n)
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
        }
    )
