"""The HTMX page in a real browser (Playwright + Debian's Chromium) against the API served
by uvicorn on a throw-away database: load a user's suggestions, rate one, and — once the
rating is stored, as the pipeline would store it — see that movie leave the list."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from infra.settings import Settings
from streams import topic_admin
from tests.integration.api.live import live_server
from tests.integration.api.support import add_movies, add_rating, add_suggestions, consume

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = pytest.mark.service  # real Kafka and Postgres

MOVIES = [
    (1, "The Quiet Harbour", 30.0),
    (2, "Clockwork Orchard", 20.0),
    (3, "A Map of Small Rivers", 10.0),
    (4, "Northern Static", 5.0),
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is missing: install it with `apt-get install -y chromium` "
                    "(Playwright drives Debian's browser; it cannot download its own here)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 900, "height": 900})
    page = await context.new_page()
    yield page
    await context.close()


async def test_load_rate_and_see_the_movie_leave_the_list(
    page: Page, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    await topic_admin.ensure_topics(settings)
    await add_movies(pool, MOVIES)
    await add_suggestions(pool, 42, [(1, 4.7), (2, 4.4), (3, 3.9), (4, 3.2)],
                          version="20260101T000000.000000Z-abcdef")
    OUTPUT.mkdir(parents=True, exist_ok=True)

    with live_server(settings.model_copy(update={"database_url": database_url})) as base_url:
        await page.goto(base_url + "/")
        await expect(page.get_by_role("heading", name="streamrec")).to_be_visible()
        await page.get_by_label("User id").fill("42")
        await page.get_by_role("button", name="Show suggestions").click()

        items = page.locator("#suggestions li")
        await expect(items).to_have_count(4)
        await expect(items.first).to_contain_text("The Quiet Harbour")
        await expect(page.locator("#suggestions .source")).to_contain_text("Picked for you from everyone")
        await page.screenshot(path=str(OUTPUT / "1-suggestions.png"), full_page=True)

        target = page.locator('#suggestions li[data-movie-id="2"]')
        await target.get_by_role("button", name="Rate Clockwork Orchard 4 out of 5").click()
        await expect(target).to_have_class("rated")
        await expect(target.locator(".status")).to_contain_text("Rated 4 out of 5")
        await page.screenshot(path=str(OUTPUT / "2-rated.png"), full_page=True)

        # The click published a RatingEvent; store it as the ratings agent would.
        [(key, event)] = await consume(settings, "ratings")
        assert key == b"42"
        assert (event["user_id"], event["movie_id"], event["rating"]) == (42, 2, 4.0)
        await add_rating(pool, 42, 2, 4.0)

        await expect(page.locator('#suggestions li[data-movie-id="2"]')).to_have_count(0, timeout=15_000)
        await expect(items).to_have_count(3)
        await page.screenshot(path=str(OUTPUT / "3-after-refresh.png"), full_page=True)
