"""The app's shape without services: routes match the OpenAPI description, the page's
HTML is escaped, metrics registries are per app, the CLI command exists."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime

import httpx
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from typer.testing import CliRunner

from api import idempotency, openapi
from api.app import create_app
from api.metrics import Metrics, MetricsMiddleware
from api.models import RemovalAccepted, json_response
from api.page import PAGE, fragment, render_page
from cli import app as cli_app
from infra.repositories.serving import LIMIT_MAX, Served, Suggestion
from infra.settings import Settings
from ml.genres import MAX_GENRE_CHARS
from schemas.ratings import MAX_ID, RATING_MAX, RATING_MIN


def test_every_route_is_described_with_its_methods() -> None:
    app = create_app(Settings())
    routes = {
        route.path: {m.lower() for m in (route.methods or ()) if m != "HEAD"}
        for route in app.routes if isinstance(route, Route)
    }
    paths = openapi.build()["paths"]
    described = {path: set(ops) for path, ops in paths.items() if not path.startswith("/static/")}
    assert routes == described


def test_description_is_json_and_refers_to_existing_schemas() -> None:
    description = openapi.build()
    text = json.dumps(description)
    referred = set(re.findall(r"#/components/schemas/(\w+)", text))
    assert referred == set(description["components"]["schemas"])  # each one used, none missing
    assert description["openapi"].startswith("3.1")
    assert "nullable" not in text  # OpenAPI 3.0's; 3.1 says null with JSON Schema's types


def test_the_description_takes_its_limits_from_the_code_that_enforces_them() -> None:
    description = openapi.build()
    schemas = description["components"]["schemas"]
    rating = schemas["Rating"]["properties"]["rating"]
    assert (rating["minimum"], rating["maximum"], rating["multipleOf"]) == (RATING_MIN, RATING_MAX, 0.5)
    assert schemas["UserMovie"]["properties"]["movie_id"]["maximum"] == MAX_ID
    assert schemas["Rating"]["additionalProperties"] is False  # unknown fields are refused
    query = {p["name"]: p for p in description["paths"]["/api/suggestions/"]["get"]["parameters"]}
    assert query["limit"]["schema"]["maximum"] == LIMIT_MAX and query["user_id"]["required"] is True
    assert query["genre"]["schema"] == {"type": "string", "minLength": 1, "maxLength": MAX_GENRE_CHARS}
    removal = description["paths"]["/api/ratings"]["delete"]
    assert removal["requestBody"]["content"][
        "application/x-www-form-urlencoded"]["schema"] == {"$ref": "#/components/schemas/UserMovie"}
    assert set(removal["responses"]) == {"202", "400", "408", "413", "415", "422", "429", "503"}
    header = {p["name"]: p for p in removal["parameters"]}["Idempotency-Key"]
    assert header["in"] == "header" and header["schema"]["maxLength"] == idempotency.MAX_KEY_CHARS


def test_answers_built_from_models_are_as_before() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = json.loads(json_response(RemovalAccepted(
        event_id="6f0c1a52-3b7e-4f0e-9d1c-5a7e2b9c4d10", user_id=1, movie_id=2, rated_at=when), 202).body)
    assert body == {"event_id": "6f0c1a52-3b7e-4f0e-9d1c-5a7e2b9c4d10", "user_id": 1, "movie_id": 2,
                    "op": "remove", "rated_at": "2026-01-02T03:04:05+00:00"}


def test_fragment_escapes_text_and_carries_the_rating_values() -> None:
    item = Suggestion(5, '<b>"Bold"</b> & co', "It's <i>fine</i>", 4.2)
    served = Served(7, "model", "v<1>", json.dumps([asdict(item)]))
    html = fragment(served, 20)
    assert "<b>" not in html and "<i>" not in html
    assert "&lt;b&gt;&quot;Bold&quot;&lt;/b&gt; &amp; co" in html
    assert "v<1>" not in html and "v&lt;1&gt;" not in html  # a person reads no version name
    assert "Picked for you" in html
    values = re.findall(r'hx-vals="([^"]*)"', html)
    assert len(values) == 6  # five ratings and "Not interested"
    assert json.loads(values[3].replace("&quot;", '"')) == {"user_id": 7, "movie_id": 5, "rating": 4}
    assert json.loads(values[5].replace("&quot;", '"')) == {"user_id": 7, "movie_id": 5}
    assert 'hx-post="/api/hidden"' in html
    assert 'hx-get="/suggestions?user_id=7&amp;limit=20"' in html


def test_page_ships_htmx_locally() -> None:
    assert 'src="/static/htmx.min.js"' in PAGE
    assert "http://" not in PAGE and "https://" not in PAGE
    assert '<label for="user-id">' in PAGE and 'lang="en"' in PAGE


def test_each_metrics_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.ratings_accepted.inc()
    assert b"streamrec_api_ratings_accepted_total 1.0" in first.render()
    assert b"streamrec_api_ratings_accepted_total 0.0" in second.render()


def test_cli_has_the_api_command() -> None:
    result = CliRunner().invoke(cli_app, ["api", "--help"])
    assert result.exit_code == 0
    assert "--workers" in result.output and "--port" in result.output


async def test_an_unexpected_error_is_a_json_500_without_a_trace() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret internals")

    metrics = Metrics()
    transport = httpx.ASGITransport(app=MetricsMiddleware(broken, metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        response = await client.get("/anything")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text
    assert b'streamrec_api_errors_total{route="<unmatched>",status="500"} 1.0' in metrics.render()


def test_fragment_says_why_a_movie_is_suggested_escaped() -> None:
    items = [asdict(Suggestion(5, "Five", "", 4.2)), asdict(Suggestion(6, "Six", "", 4.0))]
    html = fragment(Served(7, "model", "v1", json.dumps(items)), 20, {5: "<i>Heat</i> & co"})
    assert html.count('class="because"') == 1
    assert "Because you rated &lt;i&gt;Heat&lt;/i&gt; &amp; co" in html
    assert 'hx-get="/fragments/movies/5/similar?user_id=7"' in html  # "More like this"


def test_the_page_names_its_user_in_the_address() -> None:
    html = render_page(7)
    assert 'value="7"' in html and 'hx-get="/fragments/user?user_id=7"' in html
    assert 'hx-trigger="keyup changed delay:300ms, search"' in html
    assert 'hx-push-url="true"' in PAGE and "fragments/user?user_id" not in PAGE
