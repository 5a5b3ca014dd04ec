"""Online evaluation on the real stack: the API logs each list it serves as an impression,
a real worker stores it, credits a later rating or hide of a shown movie to the
impression's version and position (once, however often the events are redelivered), and
``streamrec models online`` reports the version's hit and hide rates; bad impressions
are dead-lettered with their reasons."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import UTC, datetime

import httpx

from schemas.events import ImpressionEvent, RatingEvent
from schemas.impressions import encode_impression
from schemas.ratings import encode_rating
from tests.harness import STREAMREC, Pipeline, rating_messages
from tests.integration.api.live import live_server


def _cli(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**pipeline.env, "STREAMREC_APP_ID": pipeline.settings.app_id, "COLUMNS": "200"}
    return subprocess.run([STREAMREC, *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


async def _count(pipeline: Pipeline, query: str, expected: int) -> bool:
    return await pipeline.scalar(query) >= expected


async def test_served_lists_are_impressions_and_what_follows_is_credited_once(pipeline: Pipeline) -> None:
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    pipeline.worker()
    await pipeline.stored_and_trained(3000)
    version = str(await pipeline.pool.fetchval("SELECT version_name FROM model_versions WHERE is_active"))
    rater, hider, idle = [int(u) for u in await pipeline.pool.fetchval(
        "SELECT array_agg(user_id ORDER BY user_id) FROM (SELECT user_id FROM user_lists "
        "ORDER BY user_id LIMIT 3) u")]

    api_settings = pipeline.settings.model_copy(
        update={"database_url": pipeline.env["STREAMREC_DATABASE_URL"]})
    with live_server(api_settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            shown = {}
            for user in (rater, hider, idle):
                answer = await http.get("/api/suggestions/", params={"user_id": user, "limit": 10})
                assert answer.status_code == 200
                shown[user] = [item["id"] for item in answer.json()["suggestions"]]
            await pipeline.wait_for("three impressions", lambda: _count(
                pipeline, "SELECT count(*) FROM impressions", 3))
            stored = await pipeline.pool.fetchrow(
                "SELECT movie_ids, model_version, made_by, source FROM impressions WHERE user_id = $1", rater)
            assert list(stored["movie_ids"]) == shown[rater]
            made = (stored["model_version"], stored["made_by"], stored["source"])
            assert made == (version, "batch", "model")

            rated = await http.post("/api/ratings", json={"user_id": rater, "movie_id": shown[rater][2],
                                                          "rating": 4.5})
            hid = await http.post("/api/hidden", json={"user_id": hider, "movie_id": shown[hider][0]})
            assert rated.status_code == 202 and hid.status_code == 202, (rated.text, hid.text)
            # A rating of a movie the user was not shown is not credited.
            unseen = next(m for m in range(1, 10_000) if m not in shown[idle])
            await http.post("/api/ratings", json={"user_id": idle, "movie_id": unseen, "rating": 3.0})
            await pipeline.wait_for("the rating and the hide credited", lambda: _count(
                pipeline, "SELECT count(*) FROM attributions", 2))
            metrics = (await http.get("/metrics")).text
    assert "streamrec_api_impressions_logged_total" in metrics

    credited = {row["action"]: row for row in await pipeline.pool.fetch(
        "SELECT action, user_id, movie_id, model_version, position, rating FROM attributions")}
    assert (credited["rating"]["user_id"], credited["rating"]["movie_id"]) == (rater, shown[rater][2])
    assert (credited["rating"]["position"], credited["rating"]["rating"]) == (3, 4.5)
    assert credited["hide"]["position"] == 1 and credited["hide"]["model_version"] == version
    await pipeline.wait_for("the unseen rating stored", lambda: _count(
        pipeline, f"SELECT count(*) FROM ratings WHERE user_id = {idle} AND movie_id = {unseen}", 1))
    assert await pipeline.scalar("SELECT count(*) FROM attributions") == 2

    # Redelivered: the same impression and the same rating again change nothing.
    impression = await pipeline.pool.fetchrow(
        "SELECT event_id::text, served_at FROM impressions WHERE user_id = $1", rater)
    rating = await pipeline.pool.fetchrow(
        "SELECT event_id::text, rated_at FROM ratings WHERE user_id = $1 AND movie_id = $2",
        rater, shown[rater][2])
    await pipeline.publish([encode_impression(ImpressionEvent(
        event_id=impression["event_id"], user_id=rater, movie_ids=shown[rater], model_version=version,
        made_by="batch", source="model", served_at=impression["served_at"]))], "impressions")
    await pipeline.publish([encode_rating(RatingEvent(
        event_id=rating["event_id"], user_id=rater, movie_id=shown[rater][2], rating=4.5,
        rated_at=rating["rated_at"]))])
    marker = str(uuid.uuid4())
    await pipeline.publish([encode_impression(ImpressionEvent(
        event_id=marker, user_id=idle, movie_ids=[unseen], model_version=None, made_by=None,
        source="popular", served_at=datetime.now(UTC)))], "impressions")
    await pipeline.wait_for("the marker impression", lambda: _count(
        pipeline, f"SELECT count(*) FROM impressions WHERE event_id = '{marker}'", 1))
    await asyncio.sleep(1.0)  # the redelivered rating's batch (another topic) is done by now
    assert await pipeline.scalar("SELECT count(*) FROM impressions") == 4
    assert await pipeline.scalar("SELECT count(*) FROM attributions") == 2

    report = _cli(pipeline, "models", "online", "--json")
    assert report.returncode == 0, report.stdout + report.stderr
    rows = {row["model_version"]: row for row in json.loads(report.stdout)["windows"]["all"]}
    figures = rows[version]
    assert (figures["impressions"], figures["users"], figures["hits"], figures["hides"]) == (3, 3, 1, 1)
    assert abs(figures["hit_rate"]["value"] - 1 / 3) < 1e-9
    assert figures["hit_rate"]["low"] < 1 / 3 < figures["hit_rate"]["high"]
    assert figures["mean_rating"]["value"] == 4.5
    assert rows[None]["impressions"] == 1 and rows[None]["hits"] == 0
    table = _cli(pipeline, "models", "online", "--window", "hour")
    assert table.returncode == 0 and version in table.stdout and "0.333" in table.stdout
    wrong = _cli(pipeline, "models", "online", "--window", "week")
    assert wrong.returncode != 0 and "hour, day or all" in wrong.stderr + wrong.stdout


async def test_bad_impressions_are_dead_lettered_and_the_good_ones_stored(pipeline: Pipeline) -> None:
    pipeline.worker()
    good = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat()

    def message(key: bytes | None, **value: object) -> tuple[bytes | None, bytes]:
        return key, json.dumps(value).encode()

    await pipeline.publish([
        (b"7", b"{not json"),
        message(b"7", user_id=7, movie_ids=[], source="model", served_at=now),
        message(b"7", user_id=7, movie_ids=[1, 1], source="model", served_at=now),
        message(b"7", user_id=7, movie_ids=["1"], source="model", served_at=now),
        message(b"8", user_id=7, movie_ids=[1], source="model", served_at=now),
        message(b"7", user_id=7, movie_ids=[1], source="elsewhere", served_at=now),
        message(b"7", user_id=7, movie_ids=[1], source="model", served_at="3000-01-01T00:00:00Z"),
        message(b"7", user_id=7, movie_ids=[1]),
        message(b"7", event_id=good, user_id=7, movie_ids=[3, 1, 2], model_version="v1", made_by="realtime",
                source="model", served_at=now),
    ], "impressions")
    letters = await pipeline.dead_letters(8)
    assert sorted(letter.reason for letter in letters) == sorted([
        "invalid_json", "out_of_range", "out_of_range", "wrong_type", "wrong_key", "wrong_type",
        "invalid_at", "missing_field"])
    assert {letter.source_topic for letter in letters} == {pipeline.settings.topic("impressions")}
    await pipeline.wait_for("the good impression", lambda: _count(
        pipeline, f"SELECT count(*) FROM impressions WHERE event_id = '{good}'", 1))
    row = await pipeline.pool.fetchrow("SELECT movie_ids, made_by FROM impressions WHERE event_id = $1",
                                       uuid.UUID(good))
    assert list(row["movie_ids"]) == [3, 1, 2] and row["made_by"] == "realtime"
    assert await pipeline.scalar("SELECT count(*) FROM impressions") == 1
