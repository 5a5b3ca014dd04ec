"""1,000 bad events of every kind mixed with good ones: every bad one dead-lettered with
its reason, every good one stored, the worker never restarts; after the missing movies
are added, `streamrec dlq replay` stores the ratings that named them."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from collections import Counter

from infra.repositories import movies as movies_repo
from tests.harness import STREAMREC, Pipeline, rating_messages

Message = tuple[bytes | None, bytes]


def _bad_events(count: int) -> list[tuple[Message, str]]:
    """``count`` bad events cycling through every kind, each with a unique payload."""
    kinds = [
        lambda i: ((b"1", b"{broken json %d" % i), "invalid_json"),
        lambda i: ((b"1", bytes([0xFF, 0xFE, i % 256, 0x00, 0x9C]) + str(i).encode()), "invalid_json"),
        lambda i: ((b"1", json.dumps([i]).encode()), "not_an_object"),
        lambda i: ((b"1", json.dumps({"user_id": 1, "movie_id": i}).encode()), "missing_field"),
        lambda i: ((b"1", json.dumps({"user_id": "1", "movie_id": i, "rating": 3}).encode()), "wrong_type"),
        lambda i: ((b"1", json.dumps({"user_id": 1, "movie_id": i, "rating": 7.5}).encode()),
                   "out_of_range"),
        lambda i: ((b"1", json.dumps({"user_id": 1, "movie_id": 100_000 + i, "rating": 4}).encode()),
                   "unknown_movie"),
        lambda i: ((b"1", json.dumps({"user_id": 1, "movie_id": 1, "rating": 4,
                                      "pad": "x" * (17_000 + i)}).encode()), "oversized"),
        lambda i: ((b"999", json.dumps({"user_id": 1, "movie_id": i, "rating": 4}).encode()), "wrong_key"),
    ]
    return [kinds[i % len(kinds)](i) for i in range(count)]


async def test_a_thousand_bad_events_are_dead_lettered_and_the_rest_flows(pipeline: Pipeline) -> None:
    bad = _bad_events(1000)
    good = rating_messages(pipeline.data, 0, 3000)
    mixed: list[Message] = [message for message, _ in bad] + list(good)
    random.Random(5).shuffle(mixed)
    worker = pipeline.worker()
    await pipeline.publish(mixed)
    await pipeline.wait_for("3000 good ratings",
                            lambda: _equals(pipeline, "SELECT count(*) FROM ratings", 3000))

    letters = await pipeline.dead_letters(1000)
    assert len(letters) == 1000
    assert Counter(letter.reason for letter in letters) == Counter(reason for _, reason in bad)
    assert worker.proc is not None and worker.proc.poll() is None, "the worker never restarted"
    assert "Traceback" not in worker.output() and "crashed" not in worker.output().lower()

    # The operator adds the movies the unknown_movie events named, then replays them.
    missing = sorted({100_000 + i for i in range(1000) if i % 9 == 6})
    async with pipeline.pool.acquire() as conn:
        await movies_repo.upsert(conn, [(m, f"Movie {m}", "", 0.0) for m in missing])
    replay = await asyncio.to_thread(
        subprocess.run, [STREAMREC, "dlq", "replay", "--reason", "unknown_movie", "--json"],
        env=pipeline.env, capture_output=True, text=True, timeout=120, check=False)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    expected = 3000 + len(missing)
    await pipeline.wait_for("the replayed ratings",
                            lambda: _equals(pipeline, "SELECT count(*) FROM ratings", expected))
    assert await pipeline.scalar(
        "SELECT count(*) FROM ratings WHERE movie_id >= 100000") == len(missing)


async def _equals(pipeline: Pipeline, query: str, expected: int) -> bool:
    return await pipeline.scalar(query) == expected
