"""``/admin``: the operator dashboard, server-rendered HTML fragments loaded by htmx.

The page is a frame; each panel ``hx-get``s its fragment on load and every 15 s:

* activity — ratings stored per minute over the last hour (Postgres) and dead letters
  by reason over the same hour (the dead-letter topic);
* lag — each consumer group's committed offset and lag per partition (Kafka);
* models — RMSE and NDCG@10 per version, oldest to newest, as a chart and a table;
* online — each version's impressions of the last day, hit and hide rates and the mean
  rating of shown-then-rated movies, with 95% intervals, as a chart and a table;
* timeline — retrain requests, trainings and activations, newest first;
* user — one user's list as the API serves it, with which version made it and how.

Every route needs admin credentials (:mod:`api.auth`): the bearer token, or the
session cookie ``/admin/login`` sets. Without them the answer is 401 (an HTML page
pointing to the login form); with the admin token unset, 403.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from api import charts
from api.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    admin_services,
    client_address,
    session_value,
    token_matches,
)
from api.errors import DATABASE_DOWN, ApiError
from api.params import read_body, user_id_param
from api.services import Services, services_of
from infra.errors import ServiceUnavailable
from infra.repositories import activity
from infra.repositories import impressions as impressions_repo
from infra.repositories import models as models_repo
from infra.repositories.serving import suggestions_for
from ml.online import Rate, mean_interval, wilson
from streams import dlq_stats, topic_inspect

KAFKA_TIMEOUT_S = 5.0
UNAVAILABLE: tuple[type[BaseException], ...] = (ServiceUnavailable, TimeoutError, *DATABASE_DOWN)
PANELS = ("activity", "lag", "models", "online", "timeline")

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamrec — {title}</title>
<link rel="stylesheet" href="/static/page.css">
<style>
body {{ max-width: 64rem; }} table {{ border-collapse: collapse; margin: .5rem 0 1rem; }}
td, th {{ border-bottom: 1px solid var(--line); padding: .2rem .6rem; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
section.panel {{ background: #fff; border: 1px solid var(--line); border-radius: .5rem;
                 padding: .8rem 1rem; margin-bottom: 1rem; }}
svg.chart {{ width: 100%; max-width: 560px; height: auto; }}
</style>
<script src="/static/htmx.min.js" defer></script>
</head><body>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_HEAD.format(title=escape(title)) + body + "</body></html>", status_code=status)


def _fragment_error(status: int, message: str) -> HTMLResponse:
    return HTMLResponse(f'<p class="error" role="alert">{escape(message)}</p>', status_code=status)


def _denied(err: ApiError, *, fragment: bool) -> HTMLResponse:
    if fragment:
        response = _fragment_error(err.status, err.message)
    else:
        link = ('<p><a href="/admin/login">Sign in with the admin token</a></p>'
                if err.status == 401 else "")
        response = _page("admin", f'<main><h1>Operator dashboard</h1><p role="alert">'
                                  f'{escape(err.message)}</p>{link}</main>', err.status)
    for name, value in (err.headers or {}).items():
        response.headers[name] = value
    return response


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "—"


async def dashboard(request: Request) -> HTMLResponse:
    try:
        admin_services(request, session_ok=True)
    except ApiError as err:
        return _denied(err, fragment=False)
    panels = "".join(
        f'<section class="panel" id="{name}" hx-get="/admin/fragments/{name}" '
        f'hx-trigger="load, every 15s" aria-live="polite"><p>Loading {name}…</p></section>'
        for name in PANELS
    )
    user_form = (
        '<section class="panel"><h2>One user\'s list</h2>'
        '<form hx-get="/admin/fragments/user" hx-target="#user-list">'
        '<label for="user-id">User id</label> '
        '<input id="user-id" name="user_id" type="number" min="1" max="2147483647" required> '
        '<button type="submit">Show</button></form><div id="user-list" aria-live="polite"></div></section>'
    )
    logout = ('<form method="post" action="/admin/logout"><button type="submit">Sign out</button></form>')
    return _page("operator dashboard", f"<header><h1>Operator dashboard</h1>{logout}</header>"
                                       f"<main>{panels}{user_form}</main>")


async def login_form(request: Request, message: str = "", status: int = 200) -> HTMLResponse:
    alert = f'<p role="alert">{escape(message)}</p>' if message else ""
    return _page("admin sign-in", (
        '<main><h1>Operator dashboard: sign in</h1>' + alert +
        '<form method="post" action="/admin/login"><label for="token">Admin token</label> '
        '<input id="token" name="token" type="password" autocomplete="current-password" required> '
        '<button type="submit">Sign in</button></form></main>'), status)


async def login(request: Request) -> Response:
    """GET: the form; POST: the token typed into it."""
    if request.method != "POST":
        return await login_form(request)
    services = services_of(request)
    token = services.settings.admin_token
    if not token:
        return await login_form(request, "The admin routes are disabled on this server "
                                         "(STREAMREC_ADMIN_TOKEN is not set).", 403)
    try:
        payload, _form = await read_body(request)
    except ApiError as err:
        return await login_form(request, err.message, err.status)
    address = client_address(request)
    wait_s = services.sign_in_failures.retry_after_s(address)
    if wait_s is not None:
        throttled = await login_form(request, f"Too many wrong tokens from this address; try again in "
                                              f"{wait_s} s.", 429)
        throttled.headers["Retry-After"] = str(wait_s)
        return throttled
    given = payload.get("token")
    if not isinstance(given, str) or not given or not token_matches(token, given):
        services.sign_in_failures.failed(address)
        return await login_form(request, "That is not the admin token.", 401)
    services.sign_in_failures.succeeded(address)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(SESSION_COOKIE, session_value(token), max_age=SESSION_SECONDS, path="/admin",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return response


async def _activity(services: Services) -> str:
    async with (await services.pool()).acquire() as conn:
        minutes = await activity.ratings_per_minute(conn)
    total = sum(m.ratings for m in minutes)
    chart = charts.bars([float(m.ratings) for m in minutes], "ratings stored per minute, last hour")
    try:
        async with asyncio.timeout(KAFKA_TIMEOUT_S), topic_inspect.connect(services.settings) as kafka:
            letters = await dlq_stats.recent_letters(kafka, services.settings.topic("ratings-dlq"))
        rows = "".join(f'<tr><td>{escape(reason)}</td><td class="n">{count:,}</td></tr>'
                       for reason, count in letters.by_reason.items())
        capped = f" (the first {letters.total:,} read)" if letters.capped else ""
        dead = (f"<p>{letters.total:,} dead letters in the last hour{capped}.</p>"
                + (f"<table><tr><th>reason</th><th>letters</th></tr>{rows}</table>" if rows else ""))
    except (ServiceUnavailable, TimeoutError) as err:
        dead = f'<p role="alert">Dead letters unavailable: Kafka did not answer ({escape(str(err))}).</p>'
    return (f"<h2>Activity, last hour</h2><p>{total:,} ratings stored "
            f"({total / 3600:,.1f}/s on average).</p>{chart}{dead}")


async def _lag(services: Services) -> str:
    settings = services.settings
    groups = [f"{settings.app_id}-ratings", settings.app_id]
    async with asyncio.timeout(KAFKA_TIMEOUT_S), topic_inspect.connect(settings) as kafka:
        reports = []
        for group in groups:
            try:
                reports.append(await topic_inspect.group_lag(kafka, group))
            except topic_inspect.UnknownGroup:
                continue
    if not reports:
        return "<h2>Consumer lag</h2><p>No worker has committed offsets yet.</p>"
    tables = []
    for report in reports:
        prefix = settings.topic("")
        rows = "".join(
            f'<tr><td>{escape(row.topic.removeprefix(prefix))}</td><td class="n">{row.partition}</td>'
            f'<td class="n">{row.end:,}</td><td class="n">{_count(row.committed)}</td>'
            f'<td class="n">{lag:,}</td></tr>'
            for row, lag in report.rows
        )
        tables.append(f"<h3>{escape(report.group)}: {escape(report.state)}, {report.members} member(s)</h3>"
                      f"<table><tr><th>topic</th><th>partition</th><th>end</th><th>committed</th>"
                      f"<th>lag</th></tr>{rows}</table>")
    return "<h2>Consumer lag</h2>" + "".join(tables)


async def _models(services: Services) -> str:
    async with (await services.pool()).acquire() as conn:
        versions = list(reversed(await models_repo.list_versions(conn, limit=30)))
    if not versions:
        return "<h2>Models</h2><p>No model trained yet.</p>"
    chart = charts.lines({"RMSE": [v.rmse for v in versions], "NDCG@10": [v.ndcg_at_10 for v in versions]},
                         "RMSE and NDCG@10 per version, oldest to newest")
    rows = "".join(
        f'<tr><td>{escape(v.version_name)}{" (active)" if v.is_active else ""}</td>'
        f'<td>{_when(v.created_at)}</td><td class="n">{v.rmse:.4f}</td>'
        f'<td class="n">{"—" if v.ndcg_at_10 is None else f"{v.ndcg_at_10:.4f}"}</td>'
        f'<td class="n">{"—" if v.baseline_ndcg_at_10 is None else f"{v.baseline_ndcg_at_10:.4f}"}</td>'
        f'<td>{escape(v.engine)}</td><td>{escape(v.decision)}</td></tr>'
        for v in reversed(versions)
    )
    return (f"<h2>Models</h2>{chart}<table><tr><th>version</th><th>trained</th><th>RMSE</th>"
            f"<th>NDCG@10</th><th>popularity NDCG@10</th><th>engine</th><th>decision</th></tr>{rows}</table>")


def _rate(rate: Rate) -> str:
    if rate.value is None:
        return "—"
    interval = "" if rate.low is None or rate.high is None else f" [{rate.low:.3f}, {rate.high:.3f}]"
    return f"{rate.value:.3f}{interval}"


async def _online(services: Services) -> str:
    """Each version's impressions of the last day and what followed them."""
    async with (await services.pool()).acquire() as conn:
        found = await impressions_repo.online(conn, datetime.now(UTC) - timedelta(days=1))
    if not found:
        return ("<h2>Online, last 24 h</h2><p>No impressions yet: every suggestions response is "
                "one, credited with the ratings and hides of its movies that follow it.</p>")
    hit = [wilson(v.hits, v.impressions) for v in found]
    hidden = [wilson(v.hides, v.impressions) for v in found]
    chart = charts.lines({"hit rate": [r.value for r in hit], "hide rate": [r.value for r in hidden]},
                         "hit and hide rate per version")
    rows = "".join(
        f'<tr><td>{escape(v.version or "(no model)")}</td><td class="n">{v.impressions:,}</td>'
        f'<td class="n">{v.users:,}</td><td class="n">{_rate(h)}</td><td class="n">{v.rated:,}</td>'
        f'<td class="n">{_rate(mean_interval(v.mean_rating, v.sd_rating, v.rated))}</td>'
        f'<td class="n">{_rate(d)}</td></tr>'
        for v, h, d in zip(found, hit, hidden, strict=True))
    return (f"<h2>Online, last 24 h</h2>{chart}<table><tr><th>version</th><th>impressions</th>"
            f"<th>users</th><th>hit rate [95%]</th><th>ratings</th><th>mean rating [95%]</th>"
            f"<th>hide rate [95%]</th></tr>{rows}</table>")


async def _timeline(services: Services) -> str:
    async with (await services.pool()).acquire() as conn:
        requests = await activity.retrain_requests(conn)
        versions = await models_repo.list_versions(conn, limit=20)
    events: list[tuple[datetime, str]] = [
        (r.created_at, f"retrain requested ({escape(r.reason)}, {r.new_ratings:,} new ratings)"
                       + ("" if r.sent_at else ", not yet sent")) for r in requests]
    for v in versions:
        if v.exported_at is not None:
            events.append((v.exported_at, f"training started: ratings exported for {escape(v.version_name)}"))
        events.append((v.created_at, f"{escape(v.version_name)} trained on {v.n_ratings:,} ratings: "
                                     f"{escape(v.decision) or 'recorded'}"))
        if v.activated_at is not None:
            events.append((v.activated_at, f"{escape(v.version_name)} activated"))
    events.sort(key=lambda e: e[0], reverse=True)
    items = "".join(f"<li><time>{_when(at)}</time> {text}</li>" for at, text in events[:40])
    return f"<h2>Retrain timeline</h2><ol>{items}</ol>" if items else \
        "<h2>Retrain timeline</h2><p>No retrain yet.</p>"


async def _user(services: Services, user_id: int) -> str:
    pool = await services.pool()
    served = await suggestions_for(pool, user_id, 20)
    async with pool.acquire() as conn:
        made = await activity.list_made(conn, user_id)
    if served.source == "popular":
        how = "the popular fallback: no personal list (a new user, or every listed movie rated)"
    elif served.made_by == "realtime":
        how = "the speed layer, right after the user's ratings were stored"
    else:
        how = "a prediction job after the model's activation"
    stored = (f"Stored list: {made.items} movies by {escape(made.model_version)} ({escape(made.made_by)}), "
              f"written {_when(made.updated_at)}." if made else "No stored list.")
    rows = "".join(f'<tr><td class="n">{s.id}</td><td>{escape(s.title)}</td>'
                   f'<td class="n">{s.score:.3f}</td></tr>' for s in served.suggestions)
    return (f"<h3>User {user_id}</h3><p>Served from {how}; model {escape(served.model_version or '—')}.</p>"
            f"<p>{stored}</p><table><tr><th>movie</th><th>title</th><th>score</th></tr>{rows}</table>")


async def user_panel(request: Request) -> HTMLResponse:
    try:
        services = admin_services(request, session_ok=True)
        body = await _user(services, user_id_param(request.query_params))
    except ApiError as err:
        return _denied(err, fragment=True)
    except UNAVAILABLE as err:
        return _fragment_error(503, f"Unavailable right now: {err}.")
    return HTMLResponse(body)


async def panel(request: Request) -> HTMLResponse:
    try:
        services = admin_services(request, session_ok=True)
        name = request.path_params["name"]
        if name in PANELS:
            body = await {"activity": _activity, "lag": _lag, "models": _models, "online": _online,
                          "timeline": _timeline}[name](services)
        else:
            raise ApiError(404, "not_found", f"no dashboard panel {name!r}")
    except ApiError as err:
        return _denied(err, fragment=True)
    except UNAVAILABLE as err:
        return _fragment_error(503, f"Unavailable right now: {err}. It is retried in 15 s.")
    return HTMLResponse(body)


routes = [
    Route("/admin", dashboard, methods=["GET"]),
    Route("/admin/login", login, methods=["GET", "POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/fragments/user", user_panel, methods=["GET"]),
    Route("/admin/fragments/{name}", panel, methods=["GET"]),
]
