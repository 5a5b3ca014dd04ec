"""Removing a rating through a real worker: the removal travels on the ratings topic, the
rating leaves Postgres, the user is re-ranked by the speed layer and the removal is
counted; a removal of a movie unknown yet is dead-lettered and, once the movie exists,
`dlq replay` sends it back to the ratings topic, where it is stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from infra.repositories import movies as movies_repo
from schemas.events import RatingEvent, RatingRemoved
from schemas.ratings import encode_rating, encode_removal
from streams import dlq_replay, topic_inspect
from tests.harness import Pipeline, rating_messages
from tests.integration.api.support import closed_port as free_port


def _remove(user: int, movie: int, at: datetime | None = None) -> tuple[bytes, bytes]:
    return encode_removal(RatingRemoved(event_id=str(uuid.uuid4()), user_id=user, movie_id=movie,
                                        rated_at=at or datetime.now(UTC)))


async def _list_of(pipeline: Pipeline, user: int) -> tuple[str, str]:
    row = await pipeline.pool.fetchrow(
        "SELECT made_by, updated_at::text AS updated FROM user_lists WHERE user_id = $1", user)
    return (row["made_by"], row["updated"]) if row else ("", "")


async def test_a_removal_leaves_postgres_re_ranks_the_user_and_a_dead_letter_replays(
        pipeline: Pipeline) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    metrics_port = free_port()
    pipeline.worker(STREAMREC_WORKER_METRICS_PORT=str(metrics_port))
    await pipeline.stored_and_trained(3000)

    user = int(await pipeline.pool.fetchval("SELECT min(user_id) FROM user_lists"))
    movie, rated_at = await pipeline.pool.fetchrow(
        "SELECT movie_id, rated_at FROM ratings WHERE user_id = $1 ORDER BY movie_id LIMIT 1", user)
    _, listed_at = await _list_of(pipeline, user)
    count = await pipeline.scalar("SELECT count(*) FROM ratings WHERE user_id = $1", user)
    await pipeline.publish([_remove(user, movie)])

    async def removed_and_reranked() -> bool:
        made_by, updated = await _list_of(pipeline, user)
        gone = await pipeline.scalar(
            "SELECT count(*) FROM ratings WHERE user_id = $1 AND movie_id = $2", user, movie) == 0
        return gone and made_by == "realtime" and updated != listed_at

    await pipeline.wait_for("the rating removed and the user re-ranked", removed_and_reranked)
    assert await pipeline.scalar("SELECT count(*) FROM ratings WHERE user_id = $1", user) == count - 1

    # The original rating redelivered (older than the removal) does not bring it back; a
    # removal of a movie that does not exist yet is dead-lettered, and a marker is stored.
    unknown = int(pipeline.data.movies["id"].max()) + 100
    original = encode_rating(RatingEvent(event_id=str(uuid.uuid4()), user_id=user, movie_id=movie,
                                         rating=4.0, rated_at=rated_at - timedelta(seconds=1)))
    await pipeline.publish([original, _remove(user, unknown), *rating_messages(pipeline.data, 3000, 3001)])
    await pipeline.wait_for("the marker", lambda: _at_least(pipeline, "SELECT count(*) FROM ratings", 3000))
    [letter] = await pipeline.dead_letters(1)
    assert (letter.reason, letter.source_topic) == ("unknown_movie", pipeline.settings.topic("ratings"))
    assert await pipeline.scalar(
        "SELECT count(*) FROM ratings WHERE user_id = $1 AND movie_id = $2", user, movie) == 0

    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    assert "streamrec_worker_ratings_removed_total 1.0" in metrics
    assert 'streamrec_worker_dead_lettered_total{reason="unknown_movie"} 1.0' in metrics

    # Once the movie exists (and is rated), replaying the letter sends the removal back to
    # the ratings topic: the worker stores it and the rating is gone.
    async with pipeline.pool.acquire() as conn:
        await movies_repo.upsert(conn, [(unknown, "A Film Added Later", "", 0.0)])
    await pipeline.pool.execute(
        "INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) "
        "VALUES ($1, $2, 3.0, now() - interval '1 hour', gen_random_uuid())", user, unknown)
    async with topic_inspect.connect(pipeline.settings) as kafka:
        outcome = await dlq_replay.replay(kafka)
    assert [item.letter.reason for item in outcome.replayed if item.letter] == ["unknown_movie"]
    await pipeline.wait_for("the replayed removal", lambda: _at_least(
        pipeline, f"SELECT count(*) FROM rating_removals WHERE movie_id = {unknown}", 1))
    assert await pipeline.scalar(
        "SELECT count(*) FROM ratings WHERE user_id = $1 AND movie_id = $2", user, unknown) == 0
    assert all(w.proc is not None and w.proc.poll() is None for w in pipeline.workers)


async def _at_least(pipeline: Pipeline, query: str, expected: int) -> bool:
    return await pipeline.scalar(query) >= expected
