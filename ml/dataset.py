"""Ratings frames in, Surprise trainsets out: validation, held-out split, rating scale.

A ratings frame has the columns ``user_id`` (int), ``movie_id`` (int), ``rating``
(float) and optionally ``rated_at``; raw ids stay Python ints all the way into
Surprise so that ``predict(123, 456)`` and the factor id arrays agree.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.errors import DataFormatError, NotEnoughRatings

RATING_COLUMNS = ("user_id", "movie_id", "rating")
# Below this a held-out split says nothing and SVD has nothing to learn from.
MIN_RATINGS = 10


def clean_ratings(ratings: pd.DataFrame, *, min_ratings: int = MIN_RATINGS) -> pd.DataFrame:
    """Validated copy with int64 ids and float64 ratings, one row per (user, movie).

    A repeated (user, movie) pair keeps its latest rating (by ``rated_at`` when the
    column exists, else the last row), as the ratings table does.
    """
    missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise DataFormatError(
            f"ratings frame lacks column(s) {missing}; it has {list(ratings.columns)}",
            hint="pass a frame with columns user_id, movie_id, rating",
        )
    keep = [*RATING_COLUMNS, *(["rated_at"] if "rated_at" in ratings.columns else [])]
    frame = ratings.loc[:, keep]
    if frame[list(RATING_COLUMNS)].isna().to_numpy().any():
        raise DataFormatError(
            "ratings frame has empty user_id, movie_id or rating values",
            hint="drop or fill the incomplete rows",
        )
    try:
        users = frame["user_id"].to_numpy().astype(np.int64, casting="safe")
        movies = frame["movie_id"].to_numpy().astype(np.int64, casting="safe")
    except TypeError as err:
        raise DataFormatError(
            f"user_id and movie_id must be integers ({err})",
            hint="convert the id columns to integers",
        ) from err
    values = frame["rating"].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataFormatError("ratings must be finite numbers", hint="fix the rating column")
    out = pd.DataFrame({"user_id": users, "movie_id": movies, "rating": values})
    if "rated_at" in frame.columns:
        out["rated_at"] = frame["rated_at"].to_numpy()
        out = out.sort_values("rated_at", kind="stable")
    out = out.drop_duplicates(["user_id", "movie_id"], keep="last")
    if "rated_at" in out.columns:
        out = out.sort_index()  # back to the caller's order: Surprise's inner ids follow it
    if len(out) < min_ratings:
        raise NotEnoughRatings(got=len(out), needed=min_ratings)
    return out.reset_index(drop=True)


def rating_scale_of(ratings: pd.DataFrame) -> tuple[float, float]:
    """The (lowest, highest) rating present: the clip bounds of the model."""
    values = ratings["rating"].to_numpy(dtype=np.float64)
    return float(values.min()), float(values.max())


def split_ratings(
    ratings: pd.DataFrame, *, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random (train, test) split; the test part has ``ceil(n * test_size)`` rows.

    Both parts keep at least one rating, so evaluation never falls back to the
    training data.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    n = len(ratings)
    if n < 2:
        raise NotEnoughRatings(got=n, needed=2)
    n_test = min(max(math.ceil(n * test_size), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    test = ratings.iloc[np.sort(order[:n_test])].reset_index(drop=True)
    train = ratings.iloc[np.sort(order[n_test:])].reset_index(drop=True)
    return train, test



def _mix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: a well-spread 64-bit hash of each value."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def in_test_part(user_ids: npt.ArrayLike, movie_ids: npt.ArrayLike, *, test_size: float,
                 seed: int) -> npt.NDArray[np.bool_]:
    """Whether each (user, movie) pair is held out: a seeded hash of the pair, so a pair
    is held out in every split of the same seed whenever it was rated. A model fitted
    on one split's training part has therefore never seen any later split's test pairs,
    and two models can be compared on the newer split fairly."""
    users = np.asarray(user_ids, dtype=np.int64).astype(np.uint64)
    movies = np.asarray(movie_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        key = _mix64(users * np.uint64(0x100000001B3) ^ movies) ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    unit = (_mix64(key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return unit < test_size


def pair_split(
    ratings: pd.DataFrame, *, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) by :func:`in_test_part`: about ``test_size`` of the pairs held out,
    the same pairs in every split of the same seed. Both parts keep a rating."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    if len(ratings) < 2:
        raise NotEnoughRatings(got=len(ratings), needed=2)
    test_mask = in_test_part(ratings["user_id"].to_numpy(), ratings["movie_id"].to_numpy(),
                             test_size=test_size, seed=seed)
    if test_mask.all() or not test_mask.any():  # tiny data: move one row across
        test_mask = test_mask.copy()
        test_mask[0] = not test_mask[0]
    return (ratings[~test_mask].reset_index(drop=True), ratings[test_mask].reset_index(drop=True))


def time_split(ratings: pd.DataFrame, *, test_size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) by one global time cut: the ratings before the ``1 - test_size``
    quantile of ``rated_at`` train, the rest test, so a model is judged on the future
    of everything it saw (a per-user cut would train on other users' later ratings).
    Test rows of users or movies absent from the training part are dropped: no history
    to rank from (a new user is served the cold-start list), no model row to rank."""
    train, later = time_cut(ratings, test_size=test_size)
    known = later["user_id"].isin(train["user_id"]) & later["movie_id"].isin(train["movie_id"])
    test = later[known.to_numpy()]
    if len(train) < 1 or len(test) < 1:
        raise NotEnoughRatings(got=min(len(train), len(test)), needed=1)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def time_cut(ratings: pd.DataFrame, *, test_size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(before, from) the ``1 - test_size`` quantile of ``rated_at``: ratings at the cut's
    very time fall after it, so the training part is strictly the past."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    if "rated_at" not in ratings.columns:
        raise DataFormatError("a time-ordered protocol needs each rating's time",
                              hint="use a file with timestamps (MovieLens formats have them), "
                                   "or --protocol random")
    if len(ratings) < 2:
        raise NotEnoughRatings(got=len(ratings), needed=2)
    times = ratings["rated_at"]
    cut = times.sort_values(kind="stable").iloc[min(int(len(times) * (1.0 - test_size)), len(times) - 1)]
    before = (times < cut).to_numpy()
    return ratings[before], ratings[~before]
