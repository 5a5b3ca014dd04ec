"""The speed layer, by a real worker: a rating re-ranks its user's list at once, a new
user is personal after one rating, a movie added after the fit is excluded, and a
redelivered rating rewrites the same list."""

from __future__ import annotations

import json
import uuid

import numpy as np

from infra.repositories import movies as movies_repo
from infra.repositories import serving
from tests.harness import Pipeline, rating_messages


def _rating(user: int, movie: int, rating: float, event_id: str | None = None) -> tuple[bytes, bytes]:
    value = {"user_id": user, "movie_id": movie, "rating": rating, "rated_at": "2026-06-01T00:00:00Z",
             "event_id": event_id or str(uuid.uuid4())}
    return str(user).encode(), json.dumps(value).encode()


async def _list(pipeline: Pipeline, user: int) -> list[tuple[int, float, str]]:
    rows = await pipeline.pool.fetch(
        "SELECT movie_id, value, made_by FROM suggestions WHERE user_id = $1 ORDER BY value DESC, movie_id",
        user)
    return [(r["movie_id"], r["value"], r["made_by"]) for r in rows]


async def test_a_rating_reranks_its_user_and_a_new_user_is_personal_at_once(pipeline: Pipeline) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    pipeline.worker()
    await pipeline.wait_for("3000 ratings", lambda: _count(pipeline, "SELECT count(*) FROM ratings", 3000))
    await pipeline.request_retrain()
    users = await pipeline.scalar("SELECT count(DISTINCT user_id) FROM ratings")
    await pipeline.wait_for("everyone's batch list", lambda: _count(
        pipeline, "SELECT count(DISTINCT user_id) FROM suggestions WHERE made_by = 'batch'", users),
        timeout_s=120)

    # The activation wrote every movie's similar movies from the ranking model.
    version = await pipeline.pool.fetchval("SELECT version_name FROM model_versions WHERE is_active")
    assert await pipeline.scalar(
        "SELECT count(DISTINCT movie_id) FROM similar_movies WHERE model_version = $1", version) > 0

    # An existing user rates the movie at the top of their list: the list is re-ranked.
    user = int(await pipeline.pool.fetchval("SELECT min(user_id) FROM suggestions"))
    before = await _list(pipeline, user)
    top_movie = before[0][0]
    event_id = str(uuid.uuid4())
    await pipeline.publish([_rating(user, top_movie, 5.0, event_id)])
    await pipeline.wait_for("the re-ranked list", lambda: _made_by(pipeline, user, "realtime"))
    after = await _list(pipeline, user)
    assert top_movie not in [movie for movie, *_ in after]
    assert len(after) == len(before)
    # Re-ranked, not only the movie dropped: the new history moved the kept movies' scores.
    old_scores = {movie: value for movie, value, _ in before}
    kept = [(value, old_scores[movie]) for movie, value, _ in after if movie in old_scores]
    assert kept and any(abs(new - old) > 1e-9 for new, old in kept)

    # Redelivered, the same rating rewrites the same list.
    await pipeline.publish([_rating(user, top_movie, 5.0, event_id)])
    await pipeline.publish([_rating(user + 1, top_movie, 3.0)])  # a marker behind it
    await pipeline.wait_for("the marker", lambda: _made_by(pipeline, user + 1, "realtime"))
    again = await _list(pipeline, user)
    assert [movie for movie, *_ in again] == [movie for movie, *_ in after]
    assert np.allclose([value for _, value, _ in again], [value for _, value, _ in after])

    # A new user is personal after one rating; a movie added after the fit is rated,
    # stored and excluded (it is suggested once a retrain has seen it).
    newcomer = int(await pipeline.pool.fetchval("SELECT max(user_id) FROM ratings")) + 1000
    new_movie = int(pipeline.data.movies["id"].max()) + 1
    async with pipeline.pool.acquire() as conn:
        await movies_repo.upsert(conn, [(new_movie, "A Film Added Today", "", 0.0)])
    await pipeline.publish([_rating(newcomer, top_movie, 4.5), _rating(newcomer, new_movie, 4.0)])
    await pipeline.wait_for("the newcomer's personal list", lambda: _made_by(pipeline, newcomer, "realtime"))
    served = await serving.suggestions_for(pipeline.pool, newcomer, 10)
    assert (served.source, served.made_by) == ("model", "realtime")
    shown = [s.id for s in served.suggestions]
    assert len(shown) == 10 and top_movie not in shown and new_movie not in shown
    assert await pipeline.scalar("SELECT count(*) FROM ratings WHERE user_id = $1", newcomer) == 2
    assert all(w.proc is not None and w.proc.poll() is None for w in pipeline.workers)


async def test_the_speed_layer_can_be_turned_off(pipeline: Pipeline) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 2000))
    pipeline.worker(STREAMREC_SPEED_LAYER="false")
    await pipeline.wait_for("2000 ratings", lambda: _count(pipeline, "SELECT count(*) FROM ratings", 2000))
    await pipeline.request_retrain()
    await pipeline.wait_for("suggestions", lambda: _count(
        pipeline, "SELECT count(*) FROM suggestions", 1), timeout_s=120)
    user = int(await pipeline.pool.fetchval("SELECT min(user_id) FROM suggestions"))
    movie = (await _list(pipeline, user))[0][0]
    await pipeline.publish([_rating(user, movie, 2.0)])
    await pipeline.wait_for("the rating", lambda: _count(
        pipeline, "SELECT count(*) FROM ratings WHERE rated_at = '2026-06-01T00:00:00Z'", 1))
    assert await pipeline.scalar("SELECT count(*) FROM suggestions WHERE made_by = 'realtime'") == 0
    assert await pipeline.scalar(
        "SELECT did_rate::int FROM suggestions WHERE user_id = $1 AND movie_id = $2", user, movie) == 1


async def _made_by(pipeline: Pipeline, user: int, made_by: str) -> bool:
    rows = await _list(pipeline, user)
    return bool(rows) and all(row[2] == made_by for row in rows)


async def _count(pipeline: Pipeline, query: str, expected: int) -> bool:
    return await pipeline.scalar(query) >= expected


async def test_an_ials_model_is_served_by_the_fan_out_and_the_speed_layer(pipeline: Pipeline) -> None:
    # The large-catalogue ranking model on the same paths: its version's lists written
    # for everyone, and a rating folded into the user's factors at once.
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    pipeline.worker(STREAMREC_RANKING_MODEL="ials", STREAMREC_RANKING_IALS_FACTORS="8",
                    STREAMREC_RANKING_IALS_REGULARIZATION="5")
    await pipeline.wait_for("3000 ratings", lambda: _count(pipeline, "SELECT count(*) FROM ratings", 3000))
    await pipeline.request_retrain()
    users = await pipeline.scalar("SELECT count(DISTINCT user_id) FROM ratings")
    await pipeline.wait_for("everyone's batch list", lambda: _count(
        pipeline, "SELECT count(DISTINCT user_id) FROM suggestions WHERE made_by = 'batch'", users),
        timeout_s=120)
    params = await pipeline.pool.fetchval("SELECT params FROM model_versions WHERE is_active")
    assert json.loads(params)["ranking"]["kind"] == "ials"

    user = int(await pipeline.pool.fetchval("SELECT min(user_id) FROM suggestions"))
    before = await _list(pipeline, user)
    top_movie = before[0][0]
    await pipeline.publish([_rating(user, top_movie, 5.0)])
    await pipeline.wait_for("the re-ranked list", lambda: _made_by(pipeline, user, "realtime"))
    after = await _list(pipeline, user)
    assert top_movie not in [movie for movie, *_ in after] and len(after) == len(before)
    rated = {r["movie_id"] for r in await pipeline.pool.fetch(
        "SELECT movie_id FROM ratings WHERE user_id = $1", user)}
    assert not rated & {movie for movie, *_ in after}
