"""GET /api/suggestions/: contract, order, rated-movie exclusion, cold start, limit, 4xx."""

from __future__ import annotations

import asyncpg
import httpx
import numpy as np
import pytest

from infra.repositories import movies as movies_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import serving
from infra.repositories import suggestions as suggestions_repo
from tests.integration.api.support import add_model, add_movies, add_rating, add_suggestions, set_genres

MOVIES = [(i, f"Movie {i}", float(100 - i)) for i in range(1, 13)]  # popularity: 1 is the most popular


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> asyncpg.Pool:
    await add_movies(pool, MOVIES)
    return pool


async def test_contract_and_personalised_order(client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 7, [(3, 4.5), (9, 4.9), (2, 4.5), (5, 3.1)], version="v42")

    response = await client.get("/api/suggestions/", params={"user_id": 7})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"user_id", "model_version", "source", "made_by", "suggestions"}
    assert (body["user_id"], body["model_version"], body["source"]) == (7, "v42", "model")
    assert body["made_by"] == "batch"
    assert [s["id"] for s in body["suggestions"]] == [9, 2, 3, 5]  # value desc, ties by id
    assert body["suggestions"][0] == {"id": 9, "title": "Movie 9", "overview": "About Movie 9.",
                                      "score": 4.9}


async def test_path_with_and_without_trailing_slash(client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 7, [(3, 4.5)])
    with_slash = await client.get("/api/suggestions/?user_id=7")
    without = await client.get("/api/suggestions?user_id=7")
    assert with_slash.status_code == without.status_code == 200
    assert with_slash.json() == without.json()


async def test_never_a_rated_movie(client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 7, [(1, 5.0), (2, 4.8), (3, 4.6), (4, 4.4)], rated=[1])
    first = (await client.get("/api/suggestions/?user_id=7")).json()
    assert [s["id"] for s in first["suggestions"]] == [2, 3, 4]  # rated after the list: left out

    # Another rating stored after the list was written, before any re-rank.
    await add_rating(seeded, 7, 3)
    second = (await client.get("/api/suggestions/?user_id=7")).json()
    assert [s["id"] for s in second["suggestions"]] == [2, 4]
    assert second["source"] == "model"


async def test_a_rating_committed_after_the_writer_read_is_never_served(
        client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    # The writer's race: a rating's transaction is open when the list's writer reads the
    # user's ratings (it cannot see it), and commits before the list does.
    await add_rating(seeded, 7, 6)
    async with seeded.acquire() as rater, seeded.acquire() as writer:
        rating = rater.transaction()
        await rating.start()
        await rater.execute("INSERT INTO ratings (user_id, movie_id, rating, rated_at, event_id) "
                            "VALUES (7, 2, 4.0, now(), gen_random_uuid())")
        read = await ratings_repo.rated_pairs(writer, [7])
        assert read.movie_ids == [6]  # the open transaction's rating is not visible
        await rating.commit()
        await suggestions_repo.replace_for_users(
            writer, [7], [(7, 1, 5.0), (7, 2, 4.8), (7, 3, 4.6)], "v1", rated_from=read.rated_from)
    body = (await client.get("/api/suggestions/?user_id=7")).json()
    assert [s["id"] for s in body["suggestions"]] == [1, 3]
    views = await seeded.fetch("SELECT movie_id, did_rate FROM suggestions WHERE user_id = 7 "
                               "ORDER BY position")
    assert [(r["movie_id"], r["did_rate"]) for r in views] == [(1, False), (2, True), (3, False)]


async def test_cold_start_serves_popular_unrated_movies(client: httpx.AsyncClient,
                                                        seeded: asyncpg.Pool) -> None:
    await add_rating(seeded, 8, 1)
    await add_rating(seeded, 8, 3)
    body = (await client.get("/api/suggestions/?user_id=8&limit=4")).json()
    assert body["source"] == "popular"
    assert body["model_version"] is None  # no model active yet
    assert [s["id"] for s in body["suggestions"]] == [2, 4, 5, 6]
    assert body["suggestions"][0]["score"] == 98.0

    await add_model(seeded, "v7", active=True, activated_minutes_ago=1)
    again = (await client.get("/api/suggestions/?user_id=8&limit=4")).json()
    assert (again["source"], again["model_version"]) == ("popular", "v7")


async def test_every_suggestion_rated_falls_back_to_popular(client: httpx.AsyncClient,
                                                            seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 9, [(5, 4.0), (6, 3.0)], rated=[5])
    await add_rating(seeded, 9, 6)
    body = (await client.get("/api/suggestions/?user_id=9&limit=3")).json()
    assert body["source"] == "popular"
    assert [s["id"] for s in body["suggestions"]] == [1, 2, 3]


async def test_user_and_database_without_anything(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/suggestions/?user_id=1")).json()
    assert body == {"user_id": 1, "model_version": None, "source": "popular", "made_by": None,
                    "suggestions": []}


async def test_limit(client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 7, [(i, 5.0 - i / 10) for i in range(1, 13)])
    assert len((await client.get("/api/suggestions/?user_id=7&limit=3")).json()["suggestions"]) == 3
    assert len((await client.get("/api/suggestions/?user_id=7&limit=200")).json()["suggestions"]) == 12
    assert len((await client.get("/api/suggestions/?user_id=7")).json()["suggestions"]) == 12
    popular = (await client.get("/api/suggestions/?user_id=70&limit=1")).json()
    assert [s["id"] for s in popular["suggestions"]] == [1]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "missing_parameter"),
        ("?limit=5", "missing_parameter"),
        ("?user_id=", "invalid_parameter"),
        ("?user_id=abc", "invalid_parameter"),
        ("?user_id=1.5", "invalid_parameter"),
        ("?user_id=-1", "invalid_parameter"),
        ("?user_id=0", "invalid_parameter"),
        ("?user_id=%2B5", "invalid_parameter"),
        ("?user_id=2147483648", "invalid_parameter"),
        ("?user_id=99999999999999999999999999", "invalid_parameter"),
        ("?user_id=1&user_id=2", "invalid_parameter"),
        ("?user_id=1&limit=0", "invalid_parameter"),
        ("?user_id=1&limit=201", "invalid_parameter"),
        ("?user_id=1&limit=ten", "invalid_parameter"),
        ("?user_id=1&limit=-5", "invalid_parameter"),
        ("?user_id=1&offset=-1", "invalid_parameter"),
        ("?user_id=1&offset=201", "invalid_parameter"),
        ("?user_id=1&offset=1.0", "invalid_parameter"),
        ("?user_id=1&offset=0&offset=1", "invalid_parameter"),
        ("?user_id=1&genre=", "invalid_parameter"),
        ("?user_id=1&genre=" + "A" * 65, "invalid_parameter"),
        ("?user_id=1&genre=Dra%00ma", "invalid_parameter"),
        ("?user_id=1&genre=Drama&genre=Comedy", "invalid_parameter"),
        ("?user_id=1&genre=Noir", "unknown_genre"),
    ],
)
async def test_bad_parameters_are_400_json(client: httpx.AsyncClient, query: str, code: str) -> None:
    response = await client.get(f"/api/suggestions/{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


async def test_offset_pages_through_the_same_list(client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 7, [(i, 5.0 - i / 10) for i in range(1, 8)], rated=[2])

    async def ids(**params: int | str) -> list[int]:
        body = (await client.get("/api/suggestions/", params={"user_id": 7, **params})).json()
        assert body["source"] == "model"
        return [s["id"] for s in body["suggestions"]]

    assert await ids(limit=3) == [1, 3, 4]
    assert await ids(limit=3, offset=3) == [5, 6, 7]
    assert await ids(limit=3, offset=5) == [7]
    assert await ids(offset=6) == []  # past the end of the personal list: empty, still personal
    assert await ids(limit=3, offset=0) == await ids(limit=3)
    await add_rating(seeded, 7, 5)  # after the list was written: left out of every page at once
    assert await ids(limit=3, offset=3) == [6, 7]
    popular = (await client.get("/api/suggestions/", params={"user_id": 70, "limit": 2, "offset": 3})).json()
    assert (popular["source"], [s["id"] for s in popular["suggestions"]]) == ("popular", [4, 5])


async def test_genre_filters_the_list_then_the_popular_fallback(client: httpx.AsyncClient,
                                                                 seeded: asyncpg.Pool) -> None:
    await set_genres(seeded, {1: ["Drama"], 2: ["Comedy", "Drama"], 3: ["Comedy"], 4: ["Drama"],
                              5: ["Sci-Fi"], 6: ["Drama"], 11: ["Western"]})
    await add_suggestions(seeded, 7, [(1, 5.0), (2, 4.8), (3, 4.6), (4, 4.4), (6, 4.2)], version="v3",
                          rated=[4])

    async def get(**params: int | str) -> tuple[str, list[int]]:
        body = (await client.get("/api/suggestions/", params={"user_id": 7, **params})).json()
        return body["source"], [s["id"] for s in body["suggestions"]]

    assert await get(genre="Drama") == ("model", [1, 2, 6])  # 4 was rated after the list
    assert await get(genre="Drama", limit=1, offset=1) == ("model", [2])
    assert await get(genre="Comedy") == ("model", [2, 3])
    # No movie of the genre in the list: popular unrated movies of that genre.
    await add_rating(seeded, 7, 5)
    assert await get(genre="Sci-Fi") == ("popular", [])  # its only movie is rated
    assert await get(genre="Western") == ("popular", [11])
    assert await get() == ("model", [1, 2, 3, 6])  # the unfiltered list is untouched
    item = (await client.get("/api/suggestions/?user_id=7&genre=Comedy")).json()["suggestions"][0]
    assert item == {"id": 2, "title": "Movie 2", "overview": "About Movie 2.", "score": 4.8}
    fragment = await client.get("/suggestions", params={"user_id": 7, "genre": "Comedy"})
    assert fragment.status_code == 200
    assert 'id="movie-3"' in fragment.text and 'id="movie-1"' not in fragment.text
    bad = await client.get("/suggestions", params={"user_id": 7, "genre": "drama"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/api/suggestion/", 404, "not_found"),
        ("GET", "/static/missing.js", 404, "not_found"),
        ("POST", "/api/suggestions/?user_id=1", 405, "method_not_allowed"),
        ("DELETE", "/api/suggestions", 405, "method_not_allowed"),
        ("GET", "/api/ratings", 405, "method_not_allowed"),
        ("PUT", "/healthz", 405, "method_not_allowed"),
        ("POST", "/static/htmx.min.js", 405, "method_not_allowed"),
        ("GET", "/api/admin/retrain", 405, "method_not_allowed"),
    ],
)
async def test_unknown_routes_and_wrong_methods_are_json(client: httpx.AsyncClient, method: str, path: str,
                                                         status: int, code: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code
    if status == 405:
        assert response.headers["allow"]


async def test_html_fragment_for_the_page(client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    await seeded.execute("UPDATE movies SET title = '<script>alert(1)</script> & co' WHERE id = 2")
    await add_suggestions(seeded, 7, [(2, 4.0), (3, 3.0)])
    response = await client.get("/suggestions?user_id=7")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<section id="suggestions"' in html and 'data-movie-id="3"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html and "<script>" not in html
    assert html.count('hx-post="/api/ratings"') == 10
    bad = await client.get("/suggestions?user_id=x")
    assert bad.status_code == 400 and 'role="alert"' in bad.text

    page = await client.get("/")
    assert page.status_code == 200 and 'src="/static/htmx.min.js"' in page.text
    htmx = await client.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:200]


ODD_TEXT = [
    'Quotes " and \\ backslash',
    "Tab\tnewline\ncarriage\rbell\x07",
    "Ünïcödé — 映画 🎬",
    "</script><b>&amp;</b>",
    "",
]


async def test_text_and_scores_round_trip_exactly(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    # The list is rendered as JSON by Postgres (movies.card): it must decode to exactly
    # what was stored, whatever the text, and every float must survive unchanged.
    await pool.executemany(
        "INSERT INTO movies (id, title, overview, popularity) VALUES ($1, $2, $3, 1)",
        [(i + 1, text or "untitled", text) for i, text in enumerate(ODD_TEXT)],
    )
    scores = [4.8326660644311765, 1e-07, 3.0, 0.1 + 0.2, 2.5e-300]
    await add_suggestions(pool, 7, [(i + 1, score) for i, score in enumerate(scores)])

    response = await client.get("/api/suggestions/?user_id=7")

    assert response.status_code == 200
    by_id = {s["id"]: s for s in response.json()["suggestions"]}
    for i, text in enumerate(ODD_TEXT):
        assert (by_id[i + 1]["title"], by_id[i + 1]["overview"]) == (text or "untitled", text)
        assert by_id[i + 1]["score"] == scores[i]
        assert isinstance(by_id[i + 1]["score"], float)


async def test_a_changed_title_is_served_at_once(client: httpx.AsyncClient, seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 7, [(3, 4.5)])
    await seeded.execute("UPDATE movies SET title = 'Renamed', overview = 'New text.' WHERE id = 3")
    body = (await client.get("/api/suggestions/?user_id=7")).json()
    assert body["suggestions"][0] == {"id": 3, "title": "Renamed", "overview": "New text.", "score": 4.5}


async def test_a_deleted_movie_leaves_every_list_at_once(client: httpx.AsyncClient,
                                                         seeded: asyncpg.Pool) -> None:
    await add_suggestions(seeded, 7, [(3, 4.5), (4, 4.4), (5, 4.3)])
    await add_suggestions(seeded, 8, [(4, 4.0)])
    await seeded.execute("DELETE FROM movies WHERE id = 4")
    body = (await client.get("/api/suggestions/?user_id=7")).json()
    assert [s["id"] for s in body["suggestions"]] == [3, 5]
    assert (await client.get("/api/suggestions/?user_id=8")).json()["source"] == "popular"


async def test_lists_written_in_parts_equal_lists_written_at_once(seeded: asyncpg.Pool) -> None:
    users = [*range(200, 99, -1), 8]  # enough users for three parts (MIN_PART_USERS each)
    rows = [(u, m, float(10 - m), 3.0 + m / 10) for u in users if u != 8 for m in range(1, 4 + u % 3)]
    lists = "SELECT user_id, movie_ids, rank_values, predicted, items FROM user_lists ORDER BY user_id"
    async with seeded.acquire() as conn:
        await suggestions_repo.replace_for_users(conn, [8], [(8, 1, 1.0)], "old", rated_from=1)
        await suggestions_repo.replace_for_users(conn, users, rows, "v1", rated_from=1)
    at_once = [dict(r) for r in await seeded.fetch(lists)]
    await seeded.execute("DELETE FROM user_lists")
    async with seeded.acquire() as conn:
        await suggestions_repo.replace_for_users(conn, [8], [(8, 1, 1.0)], "old", rated_from=1)
    written = await suggestions_repo.replace_in_parts(seeded, users, rows, "v1", rated_from=1, parts=3)
    assert written == len(rows)
    assert [dict(r) for r in await seeded.fetch(lists)] == at_once
    assert 8 not in [r["user_id"] for r in at_once], "a user without rows loses their list"
    assert len(users) >= 3 * suggestions_repo.MIN_PART_USERS
    assert await seeded.fetchval("SELECT count(DISTINCT model_version) FROM user_lists") == 1


async def test_rated_pairs_and_the_catalogue_are_read_as_id_arrays(seeded: asyncpg.Pool) -> None:
    # Packed int4s (infra.repositories.packed): every pair of the asked users, paired
    # in order, large ids intact; a user without ratings has none; the catalogue sorted.
    big = 2_000_000_000
    await seeded.execute("INSERT INTO movies (id, title, overview, popularity) VALUES ($1, 'Big', '', 0)",
                         big)
    expected = {(7, 3), (7, 12), (7, big), (9, 1), (40_000, 5)}
    for user, movie in sorted(expected):
        await add_rating(seeded, user, movie)
    await add_rating(seeded, 8, 2)  # not asked for
    async with seeded.acquire() as conn:
        read = await ratings_repo.rated_pairs(conn, [7, 9, 40_000, 11])
        catalogue = await movies_repo.all_ids(conn)
    assert read.user_ids.dtype == read.movie_ids.dtype == np.int64
    assert set(zip(read.user_ids.tolist(), read.movie_ids.tolist(), strict=True)) == expected
    assert len(read.user_ids) == len(expected)
    assert catalogue.tolist() == [*range(1, 13), big]


async def test_the_fast_path_answers_as_the_general_statement_does(seeded: asyncpg.Pool) -> None:
    # FIRST_PAGE_SQL answers a list's first page; LIST_SQL answers every request. Where
    # the first has items, both must serve the same, also for a list touched by a rating
    # stored since; where there is no list or nothing left in it, the first must not answer.
    await add_suggestions(seeded, 7, [(m, 10.0 - m) for m in range(1, 9)], version="v3")
    await add_suggestions(seeded, 8, [(2, 1.0), (5, 2.0), (6, 3.0)], rated=[5])
    await add_suggestions(seeded, 9, [(3, 1.0)], rated=[3])  # nothing left: popular movies
    await add_rating(seeded, 10, 1)  # no list: cold start
    async with seeded.acquire() as conn:
        # The plan Postgres settles on after a few executions must stay a key read.
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        for user, limit in ((7, 1), (7, 3), (7, 50), (8, 1), (8, 50)):
            fast = await conn.fetchrow(serving.FIRST_PAGE_SQL, user, limit)
            general = await conn.fetchrow(serving.LIST_SQL, user, limit, 0, None)
            assert fast is not None and general is not None
            assert (fast["model_version"], fast["made_by"], fast["items"]) == (
                general["personal_version"], general["made_by"], general["items"]), (user, limit)
        assert (await conn.fetchrow(serving.FIRST_PAGE_SQL, 9, 50))["items"] is None
        for user in (10, 11):
            assert await conn.fetchrow(serving.FIRST_PAGE_SQL, user, 50) is None, user
        await conn.execute("PREPARE fast (int, int) AS " + serving.FIRST_PAGE_SQL)
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN EXECUTE fast (7, 50)"))
    assert "Index Scan using user_lists_pkey" in plan and "Seq Scan" not in plan, plan
    touched = await serving.suggestions_for(seeded, 8, 50)
    assert (touched.source, [s.id for s in touched.suggestions]) == ("model", [6, 2])
    assert (await serving.suggestions_for(seeded, 9, 50)).source == "popular"
