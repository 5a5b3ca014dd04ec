"""`streamrec produce ratings` against the real broker."""

from __future__ import annotations

import json
from pathlib import Path

from infra.demo_data import DEMO_MOVIES, DEMO_USERS
from infra.importer import rating_event_id
from ml.errors import DataFormatError
from schemas.events import RatingEvent
from schemas.ratings import Origin, parse_rating
from tests.integration.cli.conftest import Cli


def test_synthetic_ratings_land_on_the_topic_as_valid_events(cli: Cli) -> None:
    result = cli.run("produce", "ratings", "--synthetic", "500", "--batch", "64")
    assert "published 500 events" in result.stdout and "events/s" in result.stdout

    records = cli.consume_all("ratings")
    assert len(records) == 500
    events = [parse_rating(r.key, r.value, Origin(r.topic, r.partition, r.offset, r.timestamp))
              for r in records]
    valid = [e for e in events if isinstance(e, RatingEvent)]
    assert len(valid) == 500, [e for e in events if not isinstance(e, RatingEvent)][:3]
    assert all(1 <= e.movie_id <= DEMO_MOVIES and 1 <= e.user_id <= DEMO_USERS for e in valid)
    assert len({e.event_id for e in valid}) == 500
    assert len({r.partition for r in records}) == 4  # keyed by user: spread over partitions


def test_a_movielens_file_is_published_with_the_ids_an_import_gives(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "u.data"
    data.write_text("".join(f"{u}\t{m}\t{r}\t88125{u}{m}\n" for u, m, r in
                            [(1, 10, 4), (1, 11, 3), (2, 10, 5), (3, 12, 1), (4, 13, 2)]))
    summary = cli.json("produce", "ratings", "--file", str(data), "--rate", "25")
    assert summary["sent"] == 5 and summary["seconds"] >= 0.12  # paced: 5 events at 25/s

    records = cli.consume_all("ratings")
    values = sorted((json.loads(r.value) for r in records), key=lambda v: (v["user_id"], v["movie_id"]))
    assert [(v["user_id"], v["movie_id"], v["rating"]) for v in values] == [
        (1, 10, 4.0), (1, 11, 3.0), (2, 10, 5.0), (3, 12, 1.0), (4, 13, 2.0)]
    assert values[0]["event_id"] == str(rating_event_id("u.data", 1, 10, 88125110 * 1_000_000))
    assert {r.key for r in records} == {b"1", b"2", b"3", b"4"}


def test_json_lines_are_published_as_written_and_a_bad_line_is_named(cli: Cli, tmp_path: Path) -> None:
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"user_id": 1, "movie_id": 2, "rating": 4.5}\n\n'
                     '{"user_id": 3, "movie_id": 4, "rating": 9}\n')
    assert cli.json("produce", "ratings", "--file", str(lines))["sent"] == 2
    assert sorted(r.value for r in cli.consume_all("ratings")) == [
        b'{"user_id": 1, "movie_id": 2, "rating": 4.5}', b'{"user_id": 3, "movie_id": 4, "rating": 9}']

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user_id": 1, "movie_id": 2, "rating": 4.5}\n{"movie_id": 2}\n')
    result = cli.run("produce", "ratings", "--file", str(bad), ok=False)
    assert isinstance(result.exception, DataFormatError)
    assert f"{bad}:2:" in str(result.exception)
    assert len(cli.consume_all("ratings")) == 2  # nothing more was sent

    result = cli.run("produce", "ratings", ok=False)
    assert result.exit_code == 1 and "exactly one of --file" in str(result.exception)
