"""`streamrec dlq list | replay` against the real broker."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from schemas.events import DeadLetter
from tests.integration.cli.conftest import Cli


def _letter(reason: str, key: bytes | None, value: bytes, offset: int) -> tuple[None, bytes]:
    letter = DeadLetter(
        reason=reason, detail=f"detail of {reason}", source_topic="ratings", source_partition=1,
        source_offset=offset, key_b64=base64.b64encode(key).decode() if key is not None else None,
        value_b64=base64.b64encode(value).decode(), failed_at=datetime.now(UTC),
    )
    return None, letter.dumps()


MISSING_1 = (b"5", b'{"user_id": 5, "movie_id": 999, "rating": 4.0}')
MISSING_2 = (b"6", b'{"user_id": 6, "movie_id": 998, "rating": 3.5}')
GARBLED = (None, b"\xff\xfe not json")


def _republished(cli: Cli) -> list[tuple[bytes | None, bytes]]:
    return [(r.key, r.value) for r in cli.consume_all("ratings")]


def test_list_shows_reason_source_and_a_preview(cli: Cli) -> None:
    cli.produce("ratings-dlq", [
        _letter("unknown_movie", *MISSING_1, offset=10),
        _letter("invalid_json", *GARBLED, offset=11),
        (None, b"not a dead letter at all"),
    ])
    letters = cli.json("dlq", "list")
    assert [(item["offset"], item["reason"]) for item in letters] == [
        (0, "unknown_movie"), (1, "invalid_json"), (2, "(not a dead letter)")]
    assert letters[0]["source_partition"] == 1 and letters[0]["source_offset"] == 10
    assert letters[0]["key"] == "5" and '"movie_id": 999' in letters[0]["value"]
    assert "not UTF-8" in letters[1]["value"] and letters[1]["key"] == "(none)"
    assert [item["status"] for item in letters] == ["pending", "pending", "unreadable"]

    assert [item["offset"] for item in cli.json("dlq", "list", "--limit", "1")] == [2]
    assert [item["offset"] for item in cli.json("dlq", "list", "--reason", "invalid_json")] == [1]
    human = cli.run("dlq", "list").stdout
    assert "unknown_movie" in human and "1@10" in human and "movie_id" in human

    tail = cli.run("topics", "tail", "ratings-dlq", "-n", "3").stdout
    assert "unknown_movie: detail of unknown_movie" in tail and "ratings[1]@10" in tail


def test_replay_republishes_the_original_bytes_once(cli: Cli) -> None:
    cli.produce("ratings-dlq", [
        _letter("unknown_movie", *MISSING_1, offset=1),
        _letter("invalid_json", *GARBLED, offset=2),
        _letter("unknown_movie", *MISSING_2, offset=3),
    ])

    dry = cli.json("dlq", "replay", "--dry-run")
    assert dry["replayed"] == 2 and dry["still_failing"] == 1 and dry["dry_run"]
    assert _republished(cli) == []
    assert cli.json("dlq", "replay", "--dry-run")["replayed"] == 2  # a dry run records nothing

    first = cli.json("dlq", "replay", "--reason", "unknown_movie")
    assert first["replayed"] == 2 and first["skipped_other_reasons"] == 1
    assert sorted(_republished(cli), key=str) == sorted([MISSING_1, MISSING_2], key=str)

    again = cli.json("dlq", "replay", "--reason", "unknown_movie")
    assert again["replayed"] == 0 and again["skipped_other_reasons"] == 1
    assert len(_republished(cli)) == 2

    # The garbled letter would only be dead-lettered again as invalid_json: it is reported
    # and left, run after run, so replays converge.
    for _ in range(2):
        rest = cli.run("dlq", "replay")
        assert "replayed 0 letter(s)" in rest.stdout and "1 that would fail again left" in rest.stdout
    assert sorted(_republished(cli), key=str) == sorted([MISSING_1, MISSING_2], key=str)
    assert [item["status"] for item in cli.json("dlq", "list")] == ["replayed", "pending", "replayed"]

    # A letter whose event now fails for another reason is replayed (the worker gives it
    # a letter with the new reason).
    cli.produce("ratings-dlq", [_letter("unknown_movie", b"7", b'{"user_id": 7}', offset=4)])
    assert cli.json("dlq", "replay")["replayed"] == 1
    assert len(_republished(cli)) == 3


def test_replay_leaves_a_letter_of_a_reason_it_does_not_know(cli: Cli) -> None:
    """Only streamrec's own reasons are replayed: a letter of any other (forged, or of a
    later version) is counted, left pending, and never republished."""
    cli.produce("ratings-dlq", [_letter("made_up_reason", *MISSING_1, offset=1),
                                _letter("unknown_movie", *MISSING_2, offset=2)])
    for _ in range(2):
        outcome = cli.json("dlq", "replay")
        assert outcome["unknown_reason"] == 1
    assert outcome["replayed"] == 0  # the known one went the first time
    assert _republished(cli) == [MISSING_2]
    assert "1 of reasons streamrec does not know left" in cli.run("dlq", "replay").stdout
    assert [item["status"] for item in cli.json("dlq", "list")] == ["pending", "replayed"]
