"""A burst of concurrent requests while a user's suggestions switch from one model
version to the next never returns a mix of the two versions."""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg

from infra.repositories import movies as movies_repo
from infra.repositories import suggestions as suggestions_repo
from infra.settings import Settings
from tests.integration.api.support import serve

USERS = list(range(1, 21))


def _rows(version_offset: int) -> list[tuple[int, int, float]]:
    # Each version suggests a disjoint set of movies, so a mix is visible in any answer.
    return [(user, version_offset + movie, 5.0 - movie / 100) for user in USERS for movie in range(1, 51)]


async def test_no_response_mixes_two_model_versions(
    settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await movies_repo.upsert(conn, [(m, f"Movie {m}", "", 0.0) for m in range(1, 201)])
        await suggestions_repo.replace_for_users(conn, USERS, _rows(0), "v1", rated_from=0)
    versions = {"v1": set(range(1, 51)), "v2": set(range(101, 151))}
    stop = asyncio.Event()

    async def switch() -> int:
        switches = 0
        async with pool.acquire() as conn:
            while not stop.is_set():
                for version, offset in (("v2", 100), ("v1", 0)):
                    await suggestions_repo.replace_for_users(conn, USERS, _rows(offset), version,
                                                             rated_from=0)
                    switches += 1
        return switches

    answers: list[tuple[str, set[int]]] = []
    async with serve(settings.model_copy(update={"database_url": database_url})) as client:

        async def burst(user: int) -> None:
            for _ in range(15):
                response = await client.get("/api/suggestions/", params={"user_id": user})
                assert response.status_code == 200
                body = response.json()
                answers.append((body["model_version"], {s["id"] for s in body["suggestions"]}))

        switcher = asyncio.create_task(switch())
        await asyncio.gather(*(burst(user) for user in USERS))
        stop.set()
        switches = await switcher

    assert switches >= 2 and len(answers) == 15 * len(USERS)
    seen = Counter(version for version, _ in answers)
    for version, movies in answers:
        assert movies == versions[version], f"a response mixed versions: {version}"
    assert len(seen) == 2, f"both versions were served during the switch: {seen}"
