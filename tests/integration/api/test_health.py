"""/healthz, /readyz with both services up or one down, /metrics, and the API without Kafka
or Postgres (it starts, answers what it can, and 503 JSON for the rest)."""

from __future__ import annotations

import asyncpg
import httpx

from infra.settings import Settings
from tests.integration.api.support import add_movies, add_suggestions, closed_port, serve


async def test_healthz_and_readyz_when_everything_is_up(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "alive"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgres": "up", "kafka": "up"}}


async def test_without_kafka_the_api_serves_suggestions_and_503s_ratings(
    api_settings: Settings, pool: asyncpg.Pool
) -> None:
    await add_movies(pool, [(1, "One", 1.0), (2, "Two", 2.0)])
    await add_suggestions(pool, 3, [(1, 4.0)])
    no_kafka = api_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{closed_port()}"})
    async with serve(no_kafka) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["checks"] == {"postgres": "up", "kafka": "down"}
        assert body["error"]["code"] == "not_ready" and "kafka" in body["error"]["message"]

        suggestions = await client.get("/api/suggestions/?user_id=3")
        assert suggestions.status_code == 200
        assert [s["id"] for s in suggestions.json()["suggestions"]] == [1]

        for _ in range(2):  # the first try reconnects, the second is answered from the recent failure
            rating = await client.post("/api/ratings", json={"user_id": 3, "movie_id": 1, "rating": 4})
            assert rating.status_code == 503
            assert rating.json()["error"]["code"] == "service_unavailable"
            assert "Kafka" in rating.json()["error"]["message"]


async def test_without_postgres_everything_reading_it_is_503_json(api_settings: Settings) -> None:
    url = api_settings.database.with_name("nowhere").replace(
        f":{api_settings.database.port}/", f":{closed_port()}/")
    async with serve(api_settings.model_copy(update={"database_url": url})) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"postgres": "down", "kafka": "up"}

        for path in ("/api/suggestions/?user_id=1", "/suggestions?user_id=1"):
            response = await client.get(path)
            assert response.status_code == 503, path
        assert (await client.get("/api/suggestions/?user_id=1")).json()["error"]["code"] == (
            "service_unavailable")
        admin = await client.get("/api/admin/models",
                                 headers={"authorization": f"Bearer {api_settings.admin_token}"})
        assert admin.status_code == 503
        assert (await client.get("/healthz")).status_code == 200


async def test_metrics_count_requests_per_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/suggestions/?user_id=5")
    await client.get("/api/suggestions/?user_id=5")
    await client.get("/api/suggestions/?user_id=oops")
    await client.get("/no/such/route")
    await client.post("/api/admin/models/v1/activate")

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'streamrec_api_requests_total{method="GET",route="/api/suggestions/",status="200"} 2.0' in text
    assert 'streamrec_api_requests_total{method="GET",route="/api/suggestions/",status="400"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert 'route="/api/admin/models/{version}/activate",status="401"' in text
    assert ('streamrec_api_request_duration_seconds_bucket{le="0.005",method="GET",'
            'route="/api/suggestions/"}') in text
    assert 'streamrec_api_suggestions_served_total{source="popular"} 2.0' in text
    assert 'streamrec_api_errors_total{route="/api/suggestions/",status="400"} 1.0' in text


async def test_each_app_has_its_own_registry(api_settings: Settings) -> None:
    async with serve(api_settings) as first, serve(api_settings) as second:
        await first.get("/healthz")
        first_text = (await first.get("/metrics")).text
        second_text = (await second.get("/metrics")).text
    assert 'route="/healthz",status="200"} 1.0' in first_text
    assert 'route="/healthz"' not in second_text
