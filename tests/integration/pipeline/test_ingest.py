"""Ratings through the real broker into Postgres by a real worker process."""

from __future__ import annotations

import base64
import json
from collections import Counter

from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from tests.harness import Pipeline, rating_messages


async def test_each_rating_lands_once_and_a_replay_changes_nothing(pipeline: Pipeline) -> None:
    pipeline.worker()
    messages = rating_messages(pipeline.data, 0, 600)
    await pipeline.publish(messages)
    await pipeline.wait_for("600 ratings", lambda: _count_is(pipeline, "ratings", 600))

    snapshot = await pipeline.pool.fetch("SELECT * FROM ratings ORDER BY user_id, movie_id")
    # The same events again, then one new rating as a marker that the replay was consumed.
    await pipeline.publish(messages + rating_messages(pipeline.data, 600, 601))
    await pipeline.wait_for("the marker rating", lambda: _count_is(pipeline, "ratings", 601))
    after = await pipeline.pool.fetch("SELECT * FROM ratings WHERE event_id <> $1 "
                                      "ORDER BY user_id, movie_id",
                                      (await pipeline.pool.fetchval(
                                          "SELECT event_id FROM ratings ORDER BY ingested_at DESC "
                                          "LIMIT 1")))
    assert [dict(r) for r in after] == [dict(r) for r in snapshot]
    assert await pipeline.scalar("SELECT pending FROM retrain_counter") == 601, \
        "replayed events are not counted again"


async def test_latest_rating_wins_whatever_the_arrival_order(pipeline: Pipeline) -> None:
    pipeline.worker()
    user, movie = 5, 7
    newer = json.dumps({"user_id": user, "movie_id": movie, "rating": 2.0,
                        "rated_at": "2026-01-02T00:00:00Z"}).encode()
    older = json.dumps({"user_id": user, "movie_id": movie, "rating": 5.0,
                        "rated_at": "2026-01-01T00:00:00Z"}).encode()
    await pipeline.publish([(b"5", newer)])
    await pipeline.wait_for("the newer rating", lambda: _count_is(pipeline, "ratings", 1))
    await pipeline.publish([(b"5", older), *rating_messages(pipeline.data, 0, 1)])
    await pipeline.wait_for("the marker", lambda: _count_is(pipeline, "ratings", 2))
    assert await pipeline.pool.fetchval(
        "SELECT rating FROM ratings WHERE user_id = $1 AND movie_id = $2", user, movie) == 2.0


async def test_rating_marks_did_rate_on_an_existing_suggestion(pipeline: Pipeline) -> None:
    async with pipeline.pool.acquire() as conn:
        read = await ratings_repo.rated_pairs(conn, [9])
        await suggestions_repo.replace_for_users(conn, [9], [(9, 3, 4.2), (9, 4, 4.1)], "v0",
                                                 rated_from=read.rated_from)
    pipeline.worker()
    await pipeline.publish([(b"9", b'{"user_id": 9, "movie_id": 3, "rating": 4.5}')])

    async def marked() -> bool:
        return bool(await pipeline.pool.fetchval(
            "SELECT did_rate FROM suggestions WHERE user_id = 9 AND movie_id = 3"))

    await pipeline.wait_for("did_rate", marked)
    assert not await pipeline.pool.fetchval(
        "SELECT did_rate FROM suggestions WHERE user_id = 9 AND movie_id = 4")


async def test_bad_events_are_dead_lettered_with_reasons_and_good_ones_stored(
    pipeline: Pipeline,
) -> None:
    def rating(**fields: object) -> bytes:
        return json.dumps(fields).encode()

    bad: list[tuple[bytes | None, bytes, str]] = [
        (b"1", b"{not json", "invalid_json"),
        (b"1", b"\x00\xff\xfe garbage", "invalid_json"),
        (b"1", b"[1, 2, 3]", "not_an_object"),
        (b"1", rating(user_id=1, movie_id=2), "missing_field"),
        (b"1", rating(user_id="1", movie_id=2, rating=4.0), "wrong_type"),
        (b"1", rating(user_id=1, movie_id=2, rating="good"), "wrong_type"),
        (b"1", rating(user_id=1, movie_id=2, rating=5.5), "out_of_range"),
        (b"1", rating(user_id=1, movie_id=2, rating=3.3), "out_of_range"),
        (b"-1", rating(user_id=-1, movie_id=2, rating=3.0), "out_of_range"),
        (b"1", rating(user_id=1, movie_id=999_999, rating=3.0), "unknown_movie"),
        (b"2", rating(user_id=1, movie_id=2, rating=3.0), "wrong_key"),
        (None, rating(user_id=1, movie_id=3, rating=3.0), "wrong_key"),
        (b"1", rating(user_id=1, movie_id=2, rating=3.0, event_id="nope"), "invalid_event_id"),
        (b"1", rating(user_id=1, movie_id=2, rating=3.0, rated_at="yesterday"), "invalid_rated_at"),
        (b"1", b'{"user_id": 1, "movie_id": 2, "rating": 3.0, "pad": "' + b"x" * 20_000 + b'"}',
         "oversized"),
    ]
    good = rating_messages(pipeline.data, 0, 50)
    mixed: list[tuple[bytes | None, bytes]] = []
    for i, (key, value, _) in enumerate(bad):
        mixed += [*good[i * 3:(i + 1) * 3], (key, value)]
    mixed += good[len(bad) * 3:]
    pipeline.worker()
    await pipeline.publish(mixed)
    await pipeline.wait_for("50 good ratings", lambda: _count_is(pipeline, "ratings", 50))

    letters = await pipeline.dead_letters(len(bad))
    assert Counter(letter.reason for letter in letters) == Counter(reason for *_, reason in bad)
    by_value = {letter.value_b64: letter for letter in letters}
    for key, value, reason in bad:
        letter = by_value[base64.b64encode(value).decode()]
        assert letter.reason == reason
        assert letter.key_b64 == (base64.b64encode(key).decode() if key is not None else None)
        assert letter.source_topic == pipeline.settings.topic("ratings")
        assert letter.source_offset >= 0 and letter.detail


async def _count_is(pipeline: Pipeline, table: str, expected: int) -> bool:
    return await pipeline.scalar(f"SELECT count(*) FROM {table}") == expected
