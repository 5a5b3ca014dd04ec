"""/admin: credentials (bearer token or the login form's session cookie) and what each
panel shows, from the real Postgres and Kafka."""

from __future__ import annotations

import time
import uuid

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from api import auth
from api.auth import SESSION_COOKIE, SESSION_SECONDS
from api.throttle import FailureThrottle
from infra.settings import Settings
from schemas.ratings import Invalid, Origin, Reason
from streams.deadletter import RawMessage, dead_letter
from tests.integration.api.support import (
    ADMIN_TOKEN,
    add_model,
    add_movies,
    add_rating,
    add_suggestions,
    serve,
)

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
PANELS = ["activity", "lag", "models", "online", "timeline"]


@pytest.mark.parametrize("path", ["/admin", *(f"/admin/fragments/{p}" for p in PANELS),
                                  "/admin/fragments/user?user_id=1"])
async def test_every_admin_page_needs_credentials(client: httpx.AsyncClient, path: str) -> None:
    missing = await client.get(path)
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("text/html")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.get(path, headers={"authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403
    forged = await client.get(path, headers={"cookie": f"{SESSION_COOKIE}=9999999999.deadbeef"})
    assert forged.status_code == 401


async def test_the_page_without_credentials_points_to_the_login_form(client: httpx.AsyncClient) -> None:
    body = (await client.get("/admin")).text
    assert 'href="/admin/login"' in body


async def test_login_sets_a_session_cookie_for_the_dashboard_only(client: httpx.AsyncClient) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    refused = await client.post("/admin/login", content="token=guess", headers=form)
    assert refused.status_code == 401
    assert SESSION_COOKIE not in refused.cookies

    signed_in = await client.post("/admin/login", content=f"token={ADMIN_TOKEN}", headers=form)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin"
    cookie = signed_in.cookies[SESSION_COOKIE]
    set_cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/admin" in set_cookie

    session = {"cookie": f"{SESSION_COOKIE}={cookie}"}
    page = await client.get("/admin", headers=session)
    assert page.status_code == 200
    for panel in PANELS:
        assert f'hx-get="/admin/fragments/{panel}"' in page.text
    assert (await client.get("/admin/fragments/models", headers=session)).status_code == 200
    # The JSON admin routes, which change things, take the bearer token only.
    assert (await client.get("/api/admin/models", headers=session)).status_code == 401


async def test_disabled_without_an_admin_token(api_settings: Settings) -> None:
    async with serve(api_settings.model_copy(update={"admin_token": None})) as client:
        assert (await client.get("/admin", headers=AUTH)).status_code == 403
        form = {"content-type": "application/x-www-form-urlencoded"}
        assert (await client.post("/admin/login", content="token=x", headers=form)).status_code == 403


async def test_models_and_timeline_panels(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    await add_model(pool, "v-old", rmse=0.95)
    await add_model(pool, "v-new", rmse=0.91, active=True, activated_minutes_ago=1)
    await pool.execute("UPDATE model_versions SET ndcg_at_10 = 0.31, decision = 'activated: better' "
                       "WHERE version_name = 'v-new'")
    await pool.execute("UPDATE model_versions SET created_at = now() - interval '10 minutes' "
                       "WHERE version_name = 'v-old'")
    models = (await client.get("/admin/fragments/models", headers=AUTH)).text
    assert "<svg" in models and "v-new (active)" in models and "0.9100" in models and "0.3100" in models
    timeline = (await client.get("/admin/fragments/timeline", headers=AUTH)).text
    assert "v-new activated" in timeline
    assert timeline.index("v-new activated") < timeline.index("v-old trained")  # newest first


async def test_online_panel_shows_each_versions_rates(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    empty = (await client.get("/admin/fragments/online", headers=AUTH)).text
    assert "No impressions yet" in empty
    # v-a: 4 impressions, one followed by a rating of 4 and one by a hide; v-b: 1, nothing after.
    shown = [(uuid.uuid4(), "v-a", user) for user in (1, 2, 3, 4)] + [(uuid.uuid4(), "v-b", 5)]
    for event_id, version, user in shown:
        await pool.execute("INSERT INTO impressions (event_id, user_id, movie_ids, model_version, made_by, "
                           "source, served_at) VALUES ($1, $2, '{10,11}', $3, 'batch', 'model', now())",
                           event_id, user, version)
    for (event_id, version, user), action, rating in ((shown[0], "rating", 4.0), (shown[1], "hide", None)):
        await pool.execute("INSERT INTO attributions (event_id, action, impression_id, user_id, movie_id, "
                           "model_version, made_by, position, rating, acted_at) "
                           "VALUES ($1, $2, $3, $4, 11, $5, 'batch', 2, $6, now())",
                           uuid.uuid4(), action, event_id, user, version, rating)
    body = (await client.get("/admin/fragments/online", headers=AUTH)).text
    assert "<svg" in body and "v-a" in body and "v-b" in body
    assert "0.250 [" in body  # v-a's hit rate and hide rate: 1 of 4, with their interval
    assert "4.000" in body and "0.000 [" in body  # the mean rating; v-b's hit rate


async def test_activity_counts_ratings_and_dead_letters_by_reason(
        client: httpx.AsyncClient, pool: asyncpg.Pool, api_settings: Settings, topics: Settings) -> None:
    await add_movies(pool, [(1, "One", 1.0), (2, "Two", 2.0)])
    await add_rating(pool, 5, 1)
    await add_rating(pool, 5, 2)
    producer = AIOKafkaProducer(bootstrap_servers=api_settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        origin = Origin(api_settings.topic("ratings"), 0, 7, None)
        for reason, n in ((Reason.INVALID_JSON, 3), (Reason.UNKNOWN_MOVIE, 1)):
            for _ in range(n):
                letter = dead_letter(RawMessage(b"5", b"{", origin), Invalid(reason, "test"))
                await producer.send_and_wait(api_settings.topic("ratings-dlq"), letter.dumps(), key=b"5")
        await producer.send_and_wait(api_settings.topic("ratings-dlq"), b"not a letter")
    finally:
        await producer.stop()
    body = (await client.get("/admin/fragments/activity", headers=AUTH)).text
    assert "2 ratings stored" in body
    assert "5 dead letters in the last hour" in body
    assert "<td>invalid_json</td><td class=\"n\">3</td>" in body
    assert "<td>unknown_movie</td><td class=\"n\">1</td>" in body
    assert "<td>unreadable</td><td class=\"n\">1</td>" in body


async def test_lag_panel_before_any_worker(client: httpx.AsyncClient, topics: Settings) -> None:
    body = (await client.get("/admin/fragments/lag", headers=AUTH)).text
    assert "No worker has committed offsets yet" in body


async def test_user_panel_says_how_the_list_was_made(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    await add_movies(pool, [(1, "One", 1.0), (2, "Two <b>", 2.0), (3, "Three", 3.0)])
    await add_suggestions(pool, 7, [(2, 4.5), (3, 4.0)], version="v9")
    body = (await client.get("/admin/fragments/user?user_id=7", headers=AUTH)).text
    assert "a prediction job" in body and "v9" in body and "Two &lt;b&gt;" in body
    popular = (await client.get("/admin/fragments/user?user_id=8", headers=AUTH)).text
    assert "popular fallback" in popular and "No stored list" in popular
    bad = await client.get("/admin/fragments/user?user_id=abc", headers=AUTH)
    assert bad.status_code == 400 and "<p" in bad.text


async def test_wrong_tokens_are_throttled_per_address(client: httpx.AsyncClient) -> None:
    """Five wrong tokens a minute, by form or by header, then 429 with Retry-After, even
    for the right token, until the window has passed."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    for _ in range(3):
        assert (await client.post("/admin/login", content="token=guess", headers=form)).status_code == 401
    for _ in range(2):
        wrong = await client.get("/api/admin/models", headers={"authorization": "Bearer guess"})
        assert wrong.status_code == 403
    throttled = await client.post("/admin/login", content=f"token={ADMIN_TOKEN}", headers=form)
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["retry-after"]) <= 60
    assert SESSION_COOKIE not in throttled.cookies
    by_header = await client.get("/api/admin/models", headers=AUTH)
    assert by_header.status_code == 429 and by_header.json()["error"]["code"] == "too_many_failures"


def test_the_failure_throttle_forgets_old_failures_and_stays_bounded() -> None:
    throttle = FailureThrottle(max_failures=2, window_s=10, max_addresses=3)
    throttle.failed("a", now=0)
    throttle.failed("a", now=1)
    assert throttle.retry_after_s("a", now=2) == 8
    assert throttle.retry_after_s("a", now=10.5) is None  # the first failure left the window
    for n, address in enumerate("bcdef"):
        throttle.failed(address, now=20 + n)
    assert len(throttle) == 3


async def test_a_signed_cookie_expiring_past_the_session_lifetime_is_refused(
        client: httpx.AsyncClient) -> None:
    far = int(time.time()) + 10 * SESSION_SECONDS
    forged = f"{far}.{auth._signature(ADMIN_TOKEN, far)}"  # signed with the token itself
    assert (await client.get("/admin", headers={"cookie": f"{SESSION_COOKIE}={forged}"})).status_code == 401
    fresh = auth.session_value(ADMIN_TOKEN)
    assert (await client.get("/admin", headers={"cookie": f"{SESSION_COOKIE}={fresh}"})).status_code == 200


@pytest.mark.parametrize("path", ["/", "/admin/login", "/admin"])
async def test_html_answers_carry_the_security_headers(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path, headers=AUTH)
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy  # no inline scripts
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    data = await client.get("/healthz")
    assert data.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in data.headers
