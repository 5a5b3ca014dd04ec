""""Not interested", by a real worker: a hidden movie leaves the user's list at once (served
and re-ranked) and stays out of a predictor's later list; unhidden, it comes back; a
replayed hide changes nothing; bad hide messages are dead-lettered with their reasons
and the good ones after them are stored."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from infra.repositories import movies as movies_repo
from infra.repositories import serving
from schemas.events import HiddenEvent, PredictionJob
from schemas.hidden import encode_hidden
from streams import dlq_replay, topic_inspect
from tests.harness import Pipeline, rating_messages
from tests.integration.api.support import closed_port as free_port


def _hide(user: int, movie: int, hidden: bool = True, *, at: datetime | None = None,
          event_id: str | None = None) -> tuple[bytes, bytes]:
    return encode_hidden(HiddenEvent(event_id=event_id or str(uuid.uuid4()), user_id=user, movie_id=movie,
                                     hidden=hidden, at=at or datetime.now(UTC)))


async def _stored_list(pipeline: Pipeline, user: int) -> tuple[list[int], str, str]:
    row = await pipeline.pool.fetchrow(
        "SELECT movie_ids, made_by, updated_at::text AS updated FROM user_lists WHERE user_id = $1", user)
    return (list(row["movie_ids"]), row["made_by"], row["updated"]) if row else ([], "", "")


async def _served(pipeline: Pipeline, user: int) -> list[int]:
    return [s.id for s in (await serving.suggestions_for(pipeline.pool, user, 10)).suggestions]


async def test_hide_leaves_the_list_stays_out_and_unhide_brings_it_back(pipeline: Pipeline) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    pipeline.worker()
    await pipeline.stored_and_trained(3000)

    user = int(await pipeline.pool.fetchval("SELECT min(user_id) FROM user_lists"))
    before, _, _ = await _stored_list(pipeline, user)
    movie = before[0]
    assert movie in await _served(pipeline, user)
    hide_at = datetime.now(UTC)
    hide_id = str(uuid.uuid4())
    await pipeline.publish([_hide(user, movie, at=hide_at, event_id=hide_id)], "hidden-items")

    async def hidden_and_reranked() -> bool:
        listed, made_by, _ = await _stored_list(pipeline, user)
        return made_by == "realtime" and movie not in listed

    await pipeline.wait_for("the hide stored and the list re-ranked", hidden_and_reranked)
    assert movie not in await _served(pipeline, user)
    assert len(await _served(pipeline, user)) == 10  # re-ranked: a movie took its place

    # A predictor's later list (as after a retrain) leaves it out too.
    version = str(await pipeline.pool.fetchval("SELECT version_name FROM model_versions WHERE is_active"))
    _, _, updated = await _stored_list(pipeline, user)
    job = PredictionJob(model_version=version, user_ids=[user], job_id=str(uuid.uuid4()))
    await pipeline.publish([(str(user).encode(), job.dumps())], "prediction-jobs")

    async def rewritten_by_a_job() -> bool:
        _, made_by, now = await _stored_list(pipeline, user)
        return made_by == "batch" and now != updated

    await pipeline.wait_for("the job's list", rewritten_by_a_job)
    listed, _, _ = await _stored_list(pipeline, user)
    assert movie not in listed and len(listed) == 10
    assert movie not in await _served(pipeline, user)

    # Unhidden: the speed layer re-ranks the user and the movie is back on top.
    await pipeline.publish([_hide(user, movie, False, at=hide_at + timedelta(seconds=1))], "hidden-items")

    async def back() -> bool:
        listed, made_by, _ = await _stored_list(pipeline, user)
        return made_by == "realtime" and movie in listed

    await pipeline.wait_for("the movie back in the list", back)
    assert (await _served(pipeline, user))[0] == movie
    row = await pipeline.pool.fetchrow("SELECT hidden, event_id::text AS e, ingest_xid::text AS x "
                                       "FROM hidden_items WHERE user_id = $1 AND movie_id = $2", user, movie)
    assert row is not None and row["hidden"] is False

    # The old hide replayed (same id and time) changes nothing: the unhide is later.
    marker = user + 1
    await pipeline.publish([_hide(user, movie, at=hide_at, event_id=hide_id), _hide(marker, movie)],
                           "hidden-items")
    await pipeline.wait_for("the marker", lambda: _at_least(
        pipeline, f"SELECT count(*) FROM hidden_items WHERE user_id = {marker}", 1))
    assert await pipeline.pool.fetchrow("SELECT hidden, event_id::text AS e, ingest_xid::text AS x "
                                        "FROM hidden_items WHERE user_id = $1 AND movie_id = $2",
                                        user, movie) == row
    assert (await _served(pipeline, user))[0] == movie
    assert all(w.proc is not None and w.proc.poll() is None for w in pipeline.workers)


async def test_bad_hide_messages_are_dead_lettered_and_good_ones_after_them_are_stored(
        pipeline: Pipeline) -> None:
    movie = int(pipeline.data.movies["id"].min())
    unknown = int(pipeline.data.movies["id"].max()) + 100
    good = {"user_id": 5, "movie_id": movie, "hidden": True}
    bad: list[tuple[bytes | None, bytes]] = [
        (b"5", b"{not json"),
        (b"5", json.dumps({"user_id": 5, "movie_id": movie}).encode()),
        (b"5", json.dumps({**good, "hidden": "yes"}).encode()),
        (b"5", json.dumps({**good, "movie_id": unknown}).encode()),
        (b"6", json.dumps(good).encode()),
        (b"5", json.dumps({**good, "at": "2999-01-01T00:00:00Z"}).encode()),
        (b"5", b"[" * 5000 + b"]" * 5000),
    ]
    await pipeline.publish([*bad, *[_hide(7, movie + i) for i in range(3)],
                            _hide(8, movie, at=datetime.now(UTC) - timedelta(minutes=1)),
                            _hide(8, movie, False)], "hidden-items")
    metrics_port = free_port()
    pipeline.worker(STREAMREC_WORKER_METRICS_PORT=str(metrics_port))
    await pipeline.wait_for("the good hides", lambda: _at_least(
        pipeline, "SELECT count(*) FROM hidden_items WHERE user_id = 7 AND hidden", 3))
    letters = await pipeline.dead_letters(len(bad))
    assert sorted(letter.reason for letter in letters) == sorted([
        "invalid_json", "missing_field", "wrong_type", "unknown_movie", "wrong_key", "invalid_at",
        "too_deep"])
    assert {letter.source_topic for letter in letters} == {pipeline.settings.topic("hidden-items")}
    assert all(letter.detail for letter in letters)
    await pipeline.wait_for("user 8's unhide", lambda: _at_least(
        pipeline, "SELECT count(*) FROM hidden_items WHERE user_id = 8 AND NOT hidden", 1))
    assert await pipeline.scalar("SELECT count(*) FROM hidden_items") == 4
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    # User 8's hide and unhide (one batch, or two): the latest wins; counted as stored changes.
    assert 'streamrec_worker_hidden_stored_total{action="hide"} 3.0' in metrics or (
        'streamrec_worker_hidden_stored_total{action="hide"} 4.0' in metrics)
    assert 'streamrec_worker_hidden_stored_total{action="unhide"} 1.0' in metrics
    assert 'streamrec_worker_dead_lettered_total{reason="unknown_movie"} 1.0' in metrics

    # Once the movie exists, replaying the letters sends that one back to hidden-items (where
    # the worker stores it); the others are validated as hides and would fail again: left.
    async with pipeline.pool.acquire() as conn:
        await movies_repo.upsert(conn, [(unknown, "A Film Added Later", "", 0.0)])
    async with topic_inspect.connect(pipeline.settings) as kafka:
        outcome = await dlq_replay.replay(kafka)
    assert [item.letter.reason for item in outcome.replayed if item.letter] == ["unknown_movie"]
    assert len(outcome.still_failing) == len(bad) - 1
    await pipeline.wait_for("the replayed hide", lambda: _at_least(
        pipeline, f"SELECT count(*) FROM hidden_items WHERE movie_id = {unknown}", 1))
    assert all(w.proc is not None and w.proc.poll() is None for w in pipeline.workers)


async def _at_least(pipeline: Pipeline, query: str, expected: int) -> bool:
    return await pipeline.scalar(query) >= expected
