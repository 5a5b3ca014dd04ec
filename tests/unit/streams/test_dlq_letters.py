"""Dead letters for operators: replay progress, safe previews, which letters load."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from infra.settings import Settings
from schemas.events import DeadLetter
from streams.dlq_replay import (
    MAX_PENDING_RANGES,
    Progress,
    _PendingRanges,
    next_progress,
    replay_topic,
    would_fail_again,
)
from streams.topic_tail import load_dead_letter, preview


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


def test_letters_go_back_to_their_own_topic_and_are_judged_by_its_rules() -> None:
    settings = Settings(topic_prefix="p.")

    def letter(topic: str, value: bytes, reason: str) -> DeadLetter:
        return DeadLetter(reason=reason, detail="", source_topic=topic, source_partition=0, source_offset=1,
                          key_b64=base64.b64encode(b"7").decode(), value_b64=base64.b64encode(value).decode(),
                          failed_at=datetime.now(UTC), source_timestamp_ms=1_700_000_000_000)

    shown = b'{"user_id": 7, "movie_ids": [], "source": "model"}'
    assert replay_topic(letter("p.impressions", shown, "out_of_range"), settings) == "p.impressions"
    assert replay_topic(letter("p.hidden-items", b"{}", "missing_field"), settings) == "p.hidden-items"
    assert replay_topic(letter("p.ratings", b"{}", "missing_field"), settings) == "p.ratings"
    assert replay_topic(letter("p.elsewhere", b"{}", "missing_field"), settings) == "p.ratings"
    # An impression is judged as an impression: as a rating it would fail for another reason.
    assert would_fail_again(letter("p.impressions", shown, "out_of_range"), settings)
    fixed = b'{"user_id": 7, "movie_ids": [1], "source": "model"}'
    assert not would_fail_again(letter("p.impressions", fixed, "out_of_range"), settings)
