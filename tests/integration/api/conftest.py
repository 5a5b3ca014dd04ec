"""Fixtures of the API tests: the app on a throw-away database and an ASGI client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from streams import topic_admin
from tests.integration.api.support import ADMIN_TOKEN, serve


@pytest.fixture
def api_settings(settings: Settings, database_url: str, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"database_url": database_url, "admin_token": ADMIN_TOKEN,
                                       "model_dir": tmp_path / "models"})


@pytest.fixture
async def client(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(api_settings) as client:
        yield client


@pytest.fixture
async def topics(settings: Settings) -> Settings:
    """This test's topics, created as `streamrec topics create` would."""
    await topic_admin.ensure_topics(settings)
    return settings
