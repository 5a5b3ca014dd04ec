"""/openapi.json is accurate: schemathesis calls every operation of the running API and
checks there is no 5xx and every answer conforms to the description (status, content
type, headers and body), and that input the description calls invalid is refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import BaseSchema
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import openapi
from infra.settings import Settings
from streams import topic_admin
from tests.integration.api.live import live_server
from tests.integration.api.support import ADMIN_TOKEN

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@pytest.fixture
def live_api(api_settings: Settings) -> Iterator[str]:
    asyncio.run(topic_admin.ensure_topics(api_settings))
    # Schemathesis sends many wrong tokens: a throttled address would test 429s only.
    unthrottled = api_settings.model_copy(update={"api_admin_failures_per_minute": 1_000_000})
    with live_server(unthrottled) as base_url:
        yield base_url


# The description the app serves (test_served_description_is_this_one checks they are equal).
schema: BaseSchema = schemathesis.openapi.from_dict(openapi.build())


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_matches_its_description(case: schemathesis.Case[Any], live_api: str) -> None:
    case.call_and_validate(base_url=live_api, headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
                           checks=CHECKS)


def test_served_description_is_this_one(live_api: str) -> None:
    with httpx.Client(base_url=live_api) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(openapi.build()))
