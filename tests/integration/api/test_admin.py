"""Admin routes: bearer-token auth, models list / activate / rollback, retrain requests."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from infra.repositories import models as models_repo
from infra.settings import Settings
from ml.model_store import ModelStore
from tests.integration.api.support import ADMIN_TOKEN, add_stored_model, consume, serve

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
ROUTES = [
    ("GET", "/api/admin/models"),
    ("POST", "/api/admin/models/v1/activate"),
    ("POST", "/api/admin/models/rollback"),
    ("POST", "/api/admin/retrain"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_token_is_required(client: httpx.AsyncClient, method: str, path: str) -> None:
    missing = await client.request(method, path)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["www-authenticate"].startswith("Bearer")

    other_scheme = await client.request(method, path, headers={"authorization": f"Basic {ADMIN_TOKEN}"})
    assert other_scheme.status_code == 401

    wrong = await client.request(method, path, headers={"authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "forbidden"


async def test_disabled_without_a_configured_token(api_settings: Settings) -> None:
    async with serve(api_settings.model_copy(update={"admin_token": None})) as client:
        for method, path in ROUTES:
            response = await client.request(method, path, headers={"authorization": "Bearer anything"})
            assert response.status_code == 403
            error = response.json()["error"]
            assert error["code"] == "admin_disabled"
            assert "STREAMREC_ADMIN_TOKEN" in error["hint"]


async def _active(pool: asyncpg.Pool) -> str | None:
    value: str | None = await pool.fetchval("SELECT version_name FROM model_versions WHERE is_active")
    return value


async def _activate(pool: asyncpg.Pool, version: str) -> None:
    async with pool.acquire() as conn:
        await models_repo.activate(conn, version)


async def test_models_list_activate_and_rollback(client: httpx.AsyncClient, pool: asyncpg.Pool,
                                                 api_settings: Settings, topics: Settings) -> None:
    v1 = await add_stored_model(pool, api_settings, rmse=0.95, activated_minutes_ago=10)
    v2 = await add_stored_model(pool, api_settings, rmse=0.91)
    await _activate(pool, v2)

    listed = await client.get("/api/admin/models", headers=AUTH)
    assert listed.status_code == 200
    body = listed.json()
    assert body["active"] == v2
    assert [(m["version"], m["is_active"], m["rmse"]) for m in body["models"]] == [
        (v2, True, 0.91), (v1, False, 0.95)]  # newest first

    activated = await client.post(f"/api/admin/models/{v1}/activate", headers=AUTH)
    assert activated.status_code == 200
    assert activated.json()["model"]["version"] == v1
    assert await _active(pool) == v1

    rolled_back = await client.post("/api/admin/models/rollback", headers=AUTH)
    assert rolled_back.status_code == 200
    assert rolled_back.json()["model"]["version"] == v2
    assert await _active(pool) == v2

    events = [value for _, value in await consume(topics, "model-events", count=2)]
    assert [(e["version"], e["activated"], e["decision"]) for e in events] == [
        (v1, True, "manual activation"), (v2, True, "rollback")]


async def test_a_corrupt_artifact_is_refused_and_the_active_model_stays(
    client: httpx.AsyncClient, pool: asyncpg.Pool, api_settings: Settings, topics: Settings
) -> None:
    good = await add_stored_model(pool, api_settings)
    await _activate(pool, good)
    bad = await add_stored_model(pool, api_settings)
    path = ModelStore(api_settings.model_dir).npz_path(bad)
    path.write_bytes(path.read_bytes()[:100])  # truncated

    response = await client.post(f"/api/admin/models/{bad}/activate", headers=AUTH)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "model_refused" and "sha256" in error["message"]
    assert await _active(pool) == good


async def test_unknown_version_is_404_listing_the_known_ones(
    client: httpx.AsyncClient, pool: asyncpg.Pool, api_settings: Settings, topics: Settings
) -> None:
    v1 = await add_stored_model(pool, api_settings)
    await _activate(pool, v1)
    response = await client.post("/api/admin/models/v9/activate", headers=AUTH)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_model_version"
    assert error["known"] == [v1]
    assert await _active(pool) == v1


async def test_rollback_with_nothing_before_is_409(client: httpx.AsyncClient, pool: asyncpg.Pool,
                                                   api_settings: Settings, topics: Settings) -> None:
    v1 = await add_stored_model(pool, api_settings)
    await _activate(pool, v1)
    response = await client.post("/api/admin/models/rollback", headers=AUTH)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nothing_to_roll_back"
    assert await _active(pool) == v1


async def test_retrain_publishes_a_manual_request(client: httpx.AsyncClient, topics: Settings) -> None:
    response = await client.post("/api/admin/retrain", headers=AUTH)
    assert response.status_code == 202
    request_id = str(uuid.UUID(response.json()["request_id"]))

    [(key, value)] = await consume(topics, "retrain-requests")
    assert key is None
    assert value["request_id"] == request_id
    assert value["reason"] == "manual"
    assert value["new_ratings"] == 0
