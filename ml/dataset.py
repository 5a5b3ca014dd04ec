"""Ratings frames in, Surprise trainsets out: validation, held-out split, rating scale.

A ratings frame has the columns ``user_id`` (int), ``movie_id`` (int), ``rating``
(float) and optionally ``rated_at``; raw ids stay Python ints all the way into
Surprise so that ``predict(123, 456)`` and the factor id arrays agree.
"""

from __future__ import annotations

import math

import numpy as np
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

