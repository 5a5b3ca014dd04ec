"""The HTMX page in a real browser (Playwright + Debian's Chromium) against the API served
by uvicorn on a throw-away database: load a user's suggestions, rate one, and — once the
rating is stored, as the pipeline would store it — see that movie leave the list."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from infra.repositories import hidden as hidden_repo
from infra.repositories import ratings as ratings_repo
from infra.settings import Settings
from schemas.events import HiddenEvent, RatingRemoved
from streams import topic_admin
from tests.integration.api.live import live_server
from tests.integration.api.support import (
    ADMIN_TOKEN,
    add_model,
    add_movies,
    add_rating,
    add_suggestions,
    consume,
)

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


async def _open(page: Page, base_url: str, user_id: int) -> None:
    await page.goto(f"{base_url}/?user_id={user_id}")
    await expect(page.locator("#suggestions li").first).to_be_visible()


async def test_search_rate_and_change_a_rating(
    page: Page, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    await topic_admin.ensure_topics(settings)
    await add_movies(pool, MOVIES)
    await add_suggestions(pool, 42, [(1, 4.7), (2, 4.4), (3, 3.9), (4, 3.2)])
    OUTPUT.mkdir(parents=True, exist_ok=True)

    with live_server(settings.model_copy(update={"database_url": database_url})) as base_url:
        await _open(page, base_url, 42)
        await expect(page.locator("#your-ratings")).to_contain_text("You have not rated a movie yet")
        await page.get_by_label("Find a movie").press_sequentially("orchad", delay=30)  # a typo
        found = page.locator("#search-found li")
        await expect(found).to_have_count(1)
        await expect(found).to_contain_text("Clockwork Orchard")
        await found.get_by_role("button", name="Rate Clockwork Orchard 5 out of 5").click()
        await expect(found.locator(".status")).to_contain_text("Rated 5 out of 5")
        await page.screenshot(path=str(OUTPUT / "4-searched-and-rated.png"), full_page=True)

        [(_, event)] = await consume(settings, "ratings")
        assert (event["user_id"], event["movie_id"], event["rating"]) == (42, 2, 5.0)
        await add_rating(pool, 42, 2, 5.0)  # as the ratings agent stores it

        await expect(page.locator('#suggestions li[data-movie-id="2"]')).to_have_count(0, timeout=15_000)
        await expect(page.locator("#suggestions li")).to_have_count(3)
        mine = page.locator('#your-ratings li[data-movie-id="2"]')
        await expect(mine).to_contain_text("You gave it 5 out of 5", timeout=15_000)

        # Changing it: the same buttons send a later rating, which replaces the stored one.
        await mine.get_by_role("button", name="Rate Clockwork Orchard 2 out of 5").click()
        await expect(mine.locator(".status")).to_contain_text("Changed to 2 out of 5")
        events = await consume(settings, "ratings", count=2)
        assert (events[1][1]["movie_id"], events[1][1]["rating"]) == (2, 2.0)
        await pool.execute(
            "UPDATE ratings SET rating = 2, rated_at = now() WHERE user_id = 42 AND movie_id = 2")
        await expect(page.locator('#your-ratings li[data-movie-id="2"]')).to_contain_text(
            "You gave it 2 out of 5", timeout=15_000)
        pressed = page.locator('#your-ratings li[data-movie-id="2"] button[aria-pressed="true"]')
        await expect(pressed).to_have_text("2")
        await page.screenshot(path=str(OUTPUT / "5-changed.png"), full_page=True)


async def test_because_you_rated_and_more_like_this(
    page: Page, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    await add_movies(pool, [*MOVIES, (5, "Paper Lanterns", 1.0)])
    await add_rating(pool, 42, 5, 4.5)
    await add_suggestions(pool, 42, [(1, 4.7), (2, 4.4), (3, 3.9)])
    await pool.executemany(
        "INSERT INTO similar_movies (movie_id, similar_id, score, model_version) VALUES ($1, $2, $3, 'v1')",
        [(5, 1, 0.8), (5, 3, 0.2), (1, 4, 0.9), (1, 2, 0.7)])

    with live_server(settings.model_copy(update={"database_url": database_url})) as base_url:
        await _open(page, base_url, 42)
        first = page.locator('#suggestions li[data-movie-id="1"]')
        await expect(first.locator(".because")).to_have_text("Because you rated Paper Lanterns")
        await expect(page.locator('#suggestions li[data-movie-id="3"] .because')).to_have_text(
            "Because you rated Paper Lanterns")
        await expect(page.locator('#suggestions li[data-movie-id="2"] .because')).to_have_count(0)

        await first.locator("summary", has_text="More like this").click()
        similar = first.locator(".similar li")
        await expect(similar).to_have_count(2)
        await expect(similar.nth(0)).to_contain_text("Northern Static")
        await expect(similar.nth(1)).to_contain_text("Clockwork Orchard")
        rate = similar.nth(0).get_by_role("button", name="Rate Northern Static 3 out of 5")
        await expect(rate).to_be_visible()
        OUTPUT.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(OUTPUT / "6-more-like-this.png"), full_page=True)


async def test_the_address_names_the_user(
    page: Page, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    await add_movies(pool, MOVIES)
    await add_suggestions(pool, 7, [(3, 4.0), (4, 3.0)])
    await add_rating(pool, 7, 1, 4.0)

    with live_server(settings.model_copy(update={"database_url": database_url})) as base_url:
        await page.goto(f"{base_url}/?user_id=7")  # a bookmark or a shared link
        await expect(page.get_by_label("User id")).to_have_value("7")
        await expect(page.locator("#suggestions li")).to_have_count(2)
        await expect(page.locator("#suggestions h2")).to_have_text("Suggestions for user 7")
        await expect(page.locator("#your-ratings li")).to_contain_text("The Quiet Harbour")

        await page.get_by_label("User id").fill("8")  # nobody yet: popular movies
        await page.get_by_role("button", name="Show suggestions").click()
        await expect(page.locator("#suggestions h2")).to_have_text("Suggestions for user 8")
        assert page.url == f"{base_url}/?user_id=8"
        await page.go_back()
        await expect(page).to_have_url(f"{base_url}/?user_id=7")

        await page.goto(f"{base_url}/?user_id=abc")
        await expect(page.get_by_role("alert")).to_contain_text("user_id must be an integer")


async def test_the_dashboard_asks_for_the_token_then_loads_its_panels(
    page: Page, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    await topic_admin.ensure_topics(settings)
    await add_movies(pool, MOVIES)
    await add_model(pool, "20260101T000000.000000Z-abcdef", rmse=0.91, active=True, activated_minutes_ago=2)
    await add_rating(pool, 42, 1)
    served = settings.model_copy(update={"database_url": database_url, "admin_token": ADMIN_TOKEN})
    OUTPUT.mkdir(parents=True, exist_ok=True)

    with live_server(served) as base_url:
        denied = await page.goto(base_url + "/admin")
        assert denied is not None and denied.status == 401
        await page.get_by_role("link", name="Sign in with the admin token").click()
        await page.get_by_label("Admin token").fill("not the token")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("not the admin token")

        await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Operator dashboard")).to_be_visible()
        await expect(page.locator("#models")).to_contain_text("20260101T000000.000000Z-abcdef (active)")
        # The activity and lag panels also ask Kafka (a new admin connection each): slow on
        # a loaded machine, so they get the dashboard's own Kafka bound and more.
        kafka_s = 20_000
        await expect(page.locator("#activity")).to_contain_text("1 ratings stored", timeout=kafka_s)
        await expect(page.locator("#lag")).to_contain_text("No worker has committed offsets yet",
                                                           timeout=kafka_s)
        await expect(page.locator("#timeline")).to_contain_text("activated")
        await page.get_by_label("User id").fill("42")
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#user-list")).to_contain_text("popular fallback")
        await page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)

        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_label("Admin token")).to_be_visible()
        again = await page.goto(base_url + "/admin")
        assert again is not None and again.status == 401


async def test_not_interested_hides_the_movie_for_good(
    page: Page, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    await topic_admin.ensure_topics(settings)
    await add_movies(pool, MOVIES)
    await add_suggestions(pool, 42, [(1, 4.7), (2, 4.4), (3, 3.9)])

    with live_server(settings.model_copy(update={"database_url": database_url})) as base_url:
        await page.goto(base_url + "/?user_id=42")
        target = page.locator('#suggestions li[data-movie-id="3"]')
        await target.get_by_role("button", name="Not interested in A Map of Small Rivers").click()
        await expect(target.locator(".status")).to_contain_text("Hidden")

        # The click published a HiddenEvent; store it as the hidden-items agent would.
        [(key, event)] = await consume(settings, "hidden-items")
        assert key == b"42"
        assert (event["user_id"], event["movie_id"], event["hidden"]) == (42, 3, True)
        async with pool.acquire() as conn:
            await hidden_repo.store(conn, [HiddenEvent(
                event_id=event["event_id"], user_id=42, movie_id=3, hidden=True,
                at=datetime.fromisoformat(event["at"]))])

        await expect(page.locator('#suggestions li[data-movie-id="3"]')).to_have_count(0, timeout=15_000)
        await expect(page.locator("#suggestions li")).to_have_count(2)
        await page.reload()
        await expect(page.locator("#suggestions li")).to_have_count(2)


async def test_remove_a_rating_and_see_it_leave_your_ratings(
    page: Page, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    await topic_admin.ensure_topics(settings)
    await add_movies(pool, MOVIES)
    # Movie 2 is in the list but rated after it was made: excluded at serve time.
    await add_suggestions(pool, 42, [(1, 4.7), (2, 4.4), (3, 3.9)], rated=[2])
    await add_rating(pool, 42, 4, 3.0)

    with live_server(settings.model_copy(update={"database_url": database_url})) as base_url:
        await _open(page, base_url, 42)
        await expect(page.locator("#suggestions li")).to_have_count(2)
        mine = page.locator('#your-ratings li[data-movie-id="2"]')
        await expect(mine).to_contain_text("You gave it 4 out of 5")
        await mine.get_by_role("button", name="Remove your rating of Clockwork Orchard").click()
        await expect(mine.locator(".status")).to_contain_text("Rating removed")
        await expect(mine).to_have_class("removed")
        OUTPUT.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(OUTPUT / "7-removing.png"), full_page=True)

        # The click published a removal on the ratings topic (a form body, keyed by the
        # user); store it as the ratings agent would.
        [(key, event)] = await consume(settings, "ratings")
        assert key == b"42"
        assert (event["op"], event["user_id"], event["movie_id"]) == ("remove", 42, 2)
        async with pool.acquire() as conn:
            await ratings_repo.ingest(conn, [RatingRemoved(
                event_id=str(event["event_id"]), user_id=42, movie_id=2,
                rated_at=datetime.fromisoformat(str(event["rated_at"])))], retrain_every=100)

        await expect(page.locator('#your-ratings li[data-movie-id="2"]')).to_have_count(0, timeout=15_000)
        await expect(page.locator("#your-ratings li")).to_have_count(1)  # movie 4's stays
        # No longer rated, the movie may be suggested again: it is back in its place.
        await expect(page.locator('#suggestions li[data-movie-id="2"]')).to_have_count(1)
        await page.screenshot(path=str(OUTPUT / "8-removed.png"), full_page=True)
        await page.reload()
        await expect(page.locator("#your-ratings li")).to_have_count(1)
