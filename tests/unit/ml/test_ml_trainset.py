"""Trainsets built from arrays equal Surprise's own, and fit to bit-for-bit equal SVDs."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from surprise import SVD, Dataset, Reader, Trainset

from ml.dataset import RATING_COLUMNS, clean_ratings, split_ratings
from ml.train import SVDParams, fit_svd
from ml.trainset import trainset_from_arrays, trainset_from_frame

SCALE = (0.5, 5.0)


def _surprise_trainset(frame: pd.DataFrame, scale: tuple[float, float]) -> Trainset:
    """The reference: Surprise's own way from a frame."""
    data = Dataset.load_from_df(frame.loc[:, list(RATING_COLUMNS)], Reader(rating_scale=scale))
    return data.build_full_trainset()


def _svd(params: SVDParams) -> SVD:
    return SVD(n_factors=params.n_factors, n_epochs=params.n_epochs, lr_all=params.lr_all,
               reg_all=params.reg_all, random_state=params.seed)


def _assert_same_trainset(ours: Trainset, theirs: Trainset) -> None:
    assert (ours.n_users, ours.n_items, ours.n_ratings) == (
        theirs.n_users, theirs.n_items, theirs.n_ratings)
    assert ours.rating_scale == theirs.rating_scale
    # Dict equality ignores order; the raw→inner maps must also list ids in inner order.
    assert list(ours._raw2inner_id_users.items()) == list(theirs._raw2inner_id_users.items())
    assert list(ours._raw2inner_id_items.items()) == list(theirs._raw2inner_id_items.items())
    assert list(ours.ur.items()) == list(theirs.ur.items())
    assert list(ours.ir.items()) == list(theirs.ir.items())
    assert list(ours.all_ratings()) == list(theirs.all_ratings())
    # Same Python types as Surprise's (raw ids ints, ratings floats), not numpy scalars.
    assert {type(k) for k in ours._raw2inner_id_users} == {int}
    assert {type(r) for _, _, r in ours.all_ratings()} == {float}
    assert {type(i) for _, i, _ in ours.all_ratings()} == {int}
    assert ours.global_mean == theirs.global_mean


@pytest.fixture(scope="module")
def shuffled(ratings: pd.DataFrame) -> pd.DataFrame:
    """The shared synthetic ratings in a random row order, so that first appearance
    differs from id order."""
    frame = clean_ratings(ratings)
    return frame.sample(frac=1.0, random_state=5).reset_index(drop=True)


def test_trainset_equals_surprises_own(shuffled: pd.DataFrame) -> None:
    _assert_same_trainset(trainset_from_frame(shuffled, SCALE), _surprise_trainset(shuffled, SCALE))


def test_unusual_ids_and_a_repeated_pair_are_kept_as_surprise_keeps_them() -> None:
    frame = pd.DataFrame({
        "user_id": [900_000_000_001, -3, 7, 900_000_000_001, 7, 0, -3, 7],
        "movie_id": [5, 2**40, 5, 1, 5, 1, 2**40, 300],
        "rating": [4.0, 0.5, 3.5, 5.0, 1.0, 2.5, 3.0, 4.5],
    })
    _assert_same_trainset(trainset_from_frame(frame, (0.5, 5.0)), _surprise_trainset(frame, (0.5, 5.0)))


def test_arrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        trainset_from_arrays([1, 2], [1, 2, 3], [4.0, 5.0], SCALE)


@pytest.mark.parametrize("part", ["all", "train"])
def test_seeded_svd_fits_are_bit_for_bit_equal(
    shuffled: pd.DataFrame, params: SVDParams, part: str
) -> None:
    frame = shuffled if part == "all" else split_ratings(shuffled, test_size=0.2, seed=params.seed)[0]
    reference = _svd(params)
    reference.fit(_surprise_trainset(frame, SCALE))
    ours, _ = fit_svd(frame, params, SCALE)  # the production path: arrays → trainset
    for name in ("pu", "qi", "bu", "bi"):
        mine, theirs = np.asarray(getattr(ours, name)), np.asarray(getattr(reference, name))
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        assert np.array_equal(mine, theirs), name
    assert ours.trainset.global_mean == reference.trainset.global_mean
    assert ours.trainset._raw2inner_id_users == reference.trainset._raw2inner_id_users
    assert ours.trainset._raw2inner_id_items == reference.trainset._raw2inner_id_items
    user, movie = int(frame["user_id"].iloc[0]), int(frame["movie_id"].iloc[-1])
    assert ours.predict(user, movie).est == reference.predict(user, movie).est


def test_a_pickled_trainset_is_surprises_own_with_the_same_ratings(shuffled: pd.DataFrame) -> None:
    ours = trainset_from_frame(shuffled, SCALE)
    loaded = pickle.loads(pickle.dumps(ours))
    assert type(loaded) is Trainset  # loads where only Surprise is installed
    _assert_same_trainset(loaded, _surprise_trainset(shuffled, SCALE))


def test_the_compact_trainset_holds_no_python_object_per_rating(shuffled: pd.DataFrame) -> None:
    ours = trainset_from_frame(shuffled, SCALE)
    assert ours._ur is None and ours._ir is None  # built only when asked for
    columns = (ours.users, ours.items, ours.ratings, ours.rows)
    assert sum(column.nbytes for column in columns) == 20 * ours.n_ratings


def test_known_users_and_items_are_the_inner_ids(shuffled: pd.DataFrame) -> None:
    ours = trainset_from_frame(shuffled, SCALE)
    assert ours.knows_user(0) and ours.knows_user(ours.n_users - 1)
    assert not ours.knows_user(ours.n_users) and not ours.knows_user(-1)
    assert not ours.knows_user("UKN__7")  # Surprise's marker of an unknown raw id
    assert ours.knows_item(ours.n_items - 1) and not ours.knows_item(ours.n_items)
