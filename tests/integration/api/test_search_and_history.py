"""GET /api/movies/search and GET /api/users/{id}/ratings on a seeded database."""

from __future__ import annotations

import asyncpg
import httpx

from tests.integration.api.support import add_movies, set_genres

TITLES = [
    (1, "Heat (1995)", 50.0),
    (2, "Godfather, The (1972)", 90.0),
    (3, "Godfather: Part II, The (1974)", 70.0),
    (4, "In the Heat of the Night (1967)", 20.0),
    (5, "100% Pure_Heat", 1.0),
    (6, "Toy Story (1995)", 80.0),
]


async def test_search_finds_titles_by_words_prefix_first(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await add_movies(pool, TITLES)
    await set_genres(pool, {1: ["Action", "Crime"]})
    body = (await client.get("/api/movies/search", params={"q": "  heat "})).json()
    assert (body["q"], body["limit"], body["offset"]) == ("heat", 20, 0)
    assert [m["id"] for m in body["movies"]] == [1, 4, 5]  # starts with it, then contains it
    assert body["movies"][0] == {"id": 1, "title": "Heat (1995)", "overview": "About Heat (1995).",
                                 "year": 1995, "genres": ["Action", "Crime"], "score": 50.0}
    paged = (await client.get("/api/movies/search", params={"q": "heat", "limit": 1, "offset": 1})).json()
    assert [m["id"] for m in paged["movies"]] == [4]
    # A misspelt word still finds the title (trigram word similarity), popular first.
    typo = (await client.get("/api/movies/search", params={"q": "godfater"})).json()
    assert [m["id"] for m in typo["movies"]] == [2, 3]
    assert (await client.get("/api/movies/search", params={"q": "zzzqqq"})).json()["movies"] == []


async def test_search_takes_wildcards_literally(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    await add_movies(pool, TITLES)
    for q, ids in (("%", [5]), ("_", [5]), ("100% pure_", [5]), ("\\", [])):
        body = (await client.get("/api/movies/search", params={"q": q})).json()
        assert [m["id"] for m in body["movies"]] == ids, q


async def test_search_uses_the_trigram_index(pool: asyncpg.Pool) -> None:
    await add_movies(pool, [(i, f"Movie number {i}", float(i)) for i in range(1, 2001)])
    await pool.execute("ANALYZE movies")
    async with pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        rows = await conn.fetch("EXPLAIN SELECT id FROM movies WHERE title ILIKE '%number 12%' "
                                "OR title %> 'nmber'")
    plan = "\n".join(row[0] for row in rows)
    assert plan.count("Bitmap Index Scan on movies_title_trgm_idx") == 2, plan


async def test_search_refuses_bad_parameters_with_json(client: httpx.AsyncClient) -> None:
    for params, code in (({}, "missing_parameter"), ({"q": ""}, "invalid_parameter"),
                         ({"q": "   "}, "invalid_parameter"), ({"q": "x" * 101}, "invalid_parameter"),
                         ({"q": "a\x00b"}, "invalid_parameter"),
                         ({"q": "a", "limit": "0"}, "invalid_parameter"),
                         ({"q": "a", "limit": "201"}, "invalid_parameter"),
                         ({"q": "a", "offset": "-1"}, "invalid_parameter")):
        answer = await client.get("/api/movies/search", params=params)
        assert answer.status_code == 400, params
        assert answer.json()["error"]["code"] == code, params
    twice = await client.get("/api/movies/search?q=a&q=b")
    assert twice.status_code == 400 and twice.json()["error"]["parameter"] == "q"


async def _rate(pool: asyncpg.Pool, user_id: int, movie_id: int, rating: float, seconds_ago: int) -> None:
    await pool.execute("INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", user_id)
    await pool.execute(
        "INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) "
        "VALUES ($1, $2, $3, now() - make_interval(secs => $4), gen_random_uuid())",
        user_id, movie_id, rating, seconds_ago)


async def test_a_users_ratings_newest_first_with_titles(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await add_movies(pool, TITLES)
    await _rate(pool, 7, 1, 4.0, 300)
    await _rate(pool, 7, 2, 4.5, 100)
    await _rate(pool, 7, 6, 2.0, 200)
    await _rate(pool, 8, 3, 5.0, 10)  # someone else's
    body = (await client.get("/api/users/7/ratings")).json()
    assert (body["user_id"], body["total"], body["limit"], body["offset"]) == (7, 3, 50, 0)
    assert [(r["id"], r["rating"]) for r in body["ratings"]] == [(2, 4.5), (6, 2.0), (1, 4.0)]
    first = body["ratings"][0]
    assert first["title"] == "Godfather, The (1972)" and first["rated_at"].startswith("20")
    paged = (await client.get("/api/users/7/ratings", params={"limit": 1, "offset": 2})).json()
    assert [r["id"] for r in paged["ratings"]] == [1] and paged["total"] == 3
    nobody = (await client.get("/api/users/99/ratings")).json()
    assert (nobody["total"], nobody["ratings"]) == (0, [])


async def test_a_users_ratings_refuse_bad_parameters_with_json(client: httpx.AsyncClient) -> None:
    for path, params in (("/api/users/abc/ratings", {}), ("/api/users/0/ratings", {}),
                         ("/api/users/99999999999/ratings", {}), ("/api/users/7/ratings", {"limit": "x"}),
                         ("/api/users/7/ratings", {"limit": "0"}),
                         ("/api/users/7/ratings", {"offset": "-2"})):
        answer = await client.get(path, params=params)
        assert answer.status_code == 400, (path, params)
        assert "error" in answer.json(), (path, params)
