"""The built-in demo data set: small enough to train in a couple of seconds.

`streamrec data generate` loads it by default, `streamrec produce ratings --synthetic`
draws ratings over the same users and movies (so every movie exists), and the demo
uses both.
"""

from __future__ import annotations

from ml.synthetic import SyntheticData, generate

DEMO_USERS = 600
DEMO_MOVIES = 400
DEMO_RATINGS = 30_000
DEMO_SEED = 42


def demo_set(
    users: int = DEMO_USERS, movies: int = DEMO_MOVIES, ratings: int = DEMO_RATINGS, seed: int = DEMO_SEED,
    *, half_stars: bool = True,
) -> SyntheticData:
    """The demo users, movies (titles, overviews) and ratings; same arguments, same data.

    Half stars 0.5..5 (as ml-latest and the database take them) unless ``half_stars``
    is false: whole stars 1..5, for ml-100k / ml-1m files."""
    return generate(users, movies, ratings, seed=seed, half_stars=half_stars)


def source_name(users: int, movies: int, ratings: int, seed: int) -> str:
    """What a generated set's event ids derive from (a second load changes nothing)."""
    return f"synthetic-u{users}-m{movies}-r{ratings}-s{seed}"
