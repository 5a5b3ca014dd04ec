"""GET /api/movies/{id}/similar, /api/popular and /api/genres on a seeded database."""

from __future__ import annotations

import asyncpg
import httpx

from tests.integration.api.support import add_movies, set_genres


async def _seed(pool: asyncpg.Pool) -> None:
    await add_movies(pool, [(1, "One", 10.0), (2, "Two", 30.0), (3, "Three", 20.0), (4, "Four", 30.0)])
    await pool.executemany(
        "INSERT INTO similar_movies (movie_id, similar_id, score, model_version) VALUES ($1, $2, $3, 'v9')",
        [(1, 2, 0.5), (1, 3, 0.9), (1, 4, 0.5), (2, 1, 0.1)])


async def test_similar_movies_best_first_and_unknown_ones_404(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await _seed(pool)
    body = (await client.get("/api/movies/1/similar")).json()
    assert (body["movie_id"], body["model_version"]) == (1, "v9")
    assert [m["id"] for m in body["similar"]] == [3, 2, 4]  # score desc, ties by id
    assert body["similar"][0] == {"id": 3, "title": "Three", "overview": "About Three.", "score": 0.9}
    one = (await client.get("/api/movies/1/similar", params={"limit": 1})).json()
    assert [m["id"] for m in one["similar"]] == [3]
    empty = (await client.get("/api/movies/3/similar")).json()
    assert (empty["similar"], empty["model_version"]) == ([], None)  # known, nothing similar yet
    missing = await client.get("/api/movies/99/similar")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_movie"
    for bad in ("abc", "0", "99999999999", "-1"):
        answer = await client.get(f"/api/movies/{bad}/similar")
        assert answer.status_code == 400 and "error" in answer.json(), bad


async def test_popular_pages_through_the_chart(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    await _seed(pool)
    first = (await client.get("/api/popular", params={"limit": 2})).json()
    assert (first["limit"], first["offset"]) == (2, 0)
    assert [m["id"] for m in first["movies"]] == [2, 4]  # popularity desc, ties by id
    assert first["movies"][0]["score"] == 30.0
    second = (await client.get("/api/popular", params={"limit": 2, "offset": 2})).json()
    assert [m["id"] for m in second["movies"]] == [3, 1]
    assert (await client.get("/api/popular", params={"offset": 10})).json()["movies"] == []
    assert (await client.get("/api/popular", params={"offset": -1})).status_code == 400


async def test_genres_with_their_movie_counts(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert (await client.get("/api/genres")).json() == {"genres": []}
    await _seed(pool)
    await set_genres(pool, {1: ["Drama", "Comedy"], 2: ["Drama"], 3: ["Film-Noir"]})  # 4: none
    body = (await client.get("/api/genres")).json()
    assert body == {"genres": [{"name": "Comedy", "movies": 1}, {"name": "Drama", "movies": 2},
                               {"name": "Film-Noir", "movies": 1}]}


async def test_popular_by_genre(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    await _seed(pool)
    await set_genres(pool, {1: ["Drama", "Comedy"], 2: ["Drama"], 3: ["Comedy"], 4: ["Sci-Fi"]})
    drama = (await client.get("/api/popular", params={"genre": "Drama"})).json()
    assert [m["id"] for m in drama["movies"]] == [2, 1]
    paged = (await client.get("/api/popular", params={"genre": "Comedy", "limit": 1, "offset": 1})).json()
    assert [m["id"] for m in paged["movies"]] == [1]
    for params, code in (({"genre": "drama"}, "unknown_genre"), ({"genre": "Western"}, "unknown_genre"),
                         ({"genre": ""}, "invalid_parameter"), ({"genre": "x" * 65}, "invalid_parameter"),
                         ({"genre": "Dra\x00ma"}, "invalid_parameter")):
        answer = await client.get("/api/popular", params=params)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == code, params
    twice = await client.get("/api/popular?genre=Drama&genre=Comedy")
    assert twice.status_code == 400 and twice.json()["error"]["parameter"] == "genre"


async def test_latest_newest_year_first(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    # Release years from the titles; a title without one counts from when it was stored.
    await add_movies(pool, [(1, "Heat (1995)", 50.0), (2, "Toy Story (1995)", 90.0),
                            (3, "Metropolis (1927)", 10.0), (4, "Added Today", 0.0),
                            (5, "Alien (1979) ", 70.0)])
    await pool.execute("UPDATE movies SET created_at = created_at + interval '1 second' WHERE id = 2")
    await set_genres(pool, {1: ["Crime"], 3: ["Sci-Fi"], 5: ["Sci-Fi", "Horror"]})
    this_year = await pool.fetchval("SELECT extract(year FROM now() AT TIME ZONE 'UTC')::int")

    body = (await client.get("/api/latest")).json()
    assert (body["limit"], body["offset"]) == (20, 0)
    assert [m["id"] for m in body["movies"]] == [4, 2, 1, 5, 3]  # same year: stored later first
    assert [m["score"] for m in body["movies"]] == [float(this_year), 1995.0, 1995.0, 1979.0, 1927.0]
    assert set(body["movies"][0]) == {"id", "title", "overview", "score"}
    page = (await client.get("/api/latest", params={"limit": 2, "offset": 2})).json()
    assert [m["id"] for m in page["movies"]] == [1, 5]
    scifi = (await client.get("/api/latest", params={"genre": "Sci-Fi"})).json()
    assert [m["id"] for m in scifi["movies"]] == [5, 3]
    # Retitled with a year: moved at once.
    await pool.execute("UPDATE movies SET title = 'Added Today (1902)' WHERE id = 4")
    assert [m["id"] for m in (await client.get("/api/latest")).json()["movies"]][-1] == 4
    for bad in ({"limit": 0}, {"offset": -1}, {"limit": "x"}, {"genre": "Nope"}):
        answer = await client.get("/api/latest", params=bad)
        assert answer.status_code == 400 and "error" in answer.json(), bad
