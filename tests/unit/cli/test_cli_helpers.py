"""The CLI's pure helpers: replay progress, safe previews, import ids and line numbers."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from infra.dlq import MAX_PENDING_RANGES, Progress, _PendingRanges, next_progress
from infra.importer import (
    Dataset,
    check,
    epoch_micros,
    line_of_row,
    rating_event_id,
    rating_rows,
    read_dataset,
)
from infra.kafka_tail import load_dead_letter, preview
from ml.errors import DataFormatError, UnknownFormat
from schemas.events import DeadLetter


def test_progress_round_trips_through_commit_metadata() -> None:
    progress = next_progress(20, [(3, 5), (9, 10)])
    assert (progress.committed, progress.upto) == (3, 20)
    again = Progress.parse(progress.committed, progress.metadata())
    assert again == progress
    handled = [o for o in range(25) if again.handled(o)]
    assert handled == [0, 1, 2, 5, 6, 7, 8, *range(10, 20)]


def test_a_run_stopped_early_keeps_what_was_known_beyond_it() -> None:
    before = Progress(5, 1000, [(5, 6), (500, 501)])
    after = next_progress(300, [(5, 6), (7, 8)], before)
    assert after == Progress(5, 1000, [(5, 6), (7, 8), (500, 501)])
    assert after.handled(6) and not after.handled(7) and after.handled(400)
    assert not after.handled(500) and after.handled(600) and not after.handled(1000)
    assert next_progress(2000, [], before) == Progress(2000, 2000)  # a full run knows it all


def test_progress_without_pending_letters_needs_no_metadata() -> None:
    progress = next_progress(7, [])
    assert progress.metadata() == "" and progress.committed == 7
    assert [o for o in range(9) if Progress.parse(7, "").handled(o)] == list(range(7))
    assert Progress.parse(4, "garbage;upto=x") == Progress(4, 4)  # unreadable: nothing above


def test_pending_ranges_merge_consecutive_offsets() -> None:
    pending = _PendingRanges()
    for offset in (3, 4, 5, 9, 11, 12):
        pending.add(offset)
    assert pending.ranges == [(3, 6), (9, 10), (11, 13)]
    assert not pending.would_grow(13) and pending.would_grow(14)
    worst = Progress(0, 10**12, [(10**11 + 2 * i, 10**11 + 2 * i + 1) for i in range(2 * MAX_PENDING_RANGES)])
    assert len(worst.metadata()) < 4096  # the broker's default offset.metadata.max.bytes


def test_preview_is_bounded_and_safe() -> None:
    assert preview(None) == "(none)"
    assert preview(b'{"a": 1}') == '{"a": 1}'
    assert preview(b"tab\there\x1b[31m") == "tab\\there\\x1b[31m"
    assert preview(b"\xff\x00\x01") == "<3 bytes, not UTF-8: ff 00 01>"
    long = preview(b"x" * 1000, limit=50)
    assert long.startswith("x" * 50) and long.endswith("(1000 bytes)")


def test_only_real_dead_letters_are_loaded() -> None:
    letter = DeadLetter(reason="invalid_json", detail="d", source_topic="t", source_partition=0,
                        source_offset=1, key_b64=None, value_b64=base64.b64encode(b"x").decode(),
                        failed_at=datetime.now(UTC))
    assert load_dead_letter(letter.dumps()) is not None
    assert load_dead_letter(b"not json") is None
    assert load_dead_letter(b'{"reason": "x"}') is None
    assert load_dead_letter(None) is None


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
