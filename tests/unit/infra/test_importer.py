"""The importer's pure helpers: import ids, line numbers, what it refuses to read."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from infra.importer import (
    Dataset,
    check,
    epoch_micros,
    line_of_row,
    rating_event_id,
    rating_rows,
    read_dataset,
)
from ml.errors import DataFormatError, UnknownFormat


def test_event_ids_of_imported_ratings_are_stable() -> None:
    first = rating_event_id("u.data", 1, 2, 964982703 * 1_000_000)
    assert first == rating_event_id("u.data", 1, 2, 964982703 * 1_000_000)
    assert first == uuid.uuid5(uuid.UUID("3d9a51c4-8f0e-4b7a-a1c2-6e5f4d3b2a19"), "u.data:1:2:964982703")
    assert first != rating_event_id("ratings.dat", 1, 2, 964982703 * 1_000_000)
    assert rating_event_id("f", 1, 2, None) != rating_event_id("f", 1, 2, 0)


def test_rating_rows_without_a_time_are_dated_at_the_epoch() -> None:
    frame = pd.DataFrame({
        "user_id": [1, 2], "movie_id": [3, 4], "rating": [4.0, 2.5],
        "rated_at": pd.Series([pd.Timestamp(1_000, unit="s", tz="UTC"), pd.NaT], dtype="datetime64[ns, UTC]"),
    })
    assert epoch_micros(frame["rated_at"]).tolist() == [1_000_000_000, -1]
    rows = rating_rows(frame, "x.csv")
    assert [(r[0], r[1], r[2], r[3], r[4].timestamp()) for r in rows] == [(0, 1, 3, 4.0, 1000.0),
                                                                          (1, 2, 4, 2.5, 0.0)]
    assert rows[1][5] == rating_event_id("x.csv", 2, 4, None)


def test_line_of_row_skips_the_header_and_blank_lines(tmp_path: Path) -> None:
    file = tmp_path / "ratings.csv"
    file.write_text("userId,movieId,rating\n1,1,4\n\n2,2,5\n3,3,1\n")
    assert [line_of_row(file, True, row) for row in range(3)] == [2, 4, 5]
    assert line_of_row(file, False, 0) == 1


def test_check_names_the_line_of_a_rating_off_the_scale(tmp_path: Path) -> None:
    file = tmp_path / "u.data"
    file.write_text("1\t1\t4\t1\n2\t1\t4.25\t1\n")
    with pytest.raises(DataFormatError, match=r"u\.data:2: rating 4\.25 is not 0\.5\.\.5\.0"):
        read_dataset(file)
    frame = pd.DataFrame({"user_id": [0], "movie_id": [1], "rating": [4.0], "rated_at": [pd.NaT]})
    with pytest.raises(DataFormatError, match="ratings row 1: user_id 0"):
        check(Dataset(source="s", ratings=frame))


def test_read_dataset_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormat, match="found no ratings or movies file"):
        read_dataset(tmp_path)
    with pytest.raises(UnknownFormat, match="unknown format"):
        read_dataset(tmp_path, "ml-25m")
