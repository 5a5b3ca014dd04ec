"""api: ``GET /api/suggestions/?user_id=…`` against a bare Starlette route with the same
50-item payload, both under uvicorn with the same settings, load from another process.

The throw-away database holds the synthetic movies, users and ratings, an active
model row and every user's top 50 (``ml.topk.recommend`` on seeded factors, written
with ``suggestions.replace_for_users``).  Two uvicorn processes (``api.app:app_from_env``
and ``bench.bare_app:app_from_env``, one worker each, same flags) are loaded in turn
by ``bench.loadgen`` in its own process: closed loop for requests/s (alternating,
twice each), then open loop at a fixed rate for the API's latency percentiles.
Skipped, with a message, while ``api/`` does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from bench.common import BenchRun, Scale, at_least, at_most, bench_run, free_port
from bench.dataload import load_movies, load_ratings
from bench.predict_core import _fake_factors
from infra import db
from infra.repositories import Connection, serving
from infra.repositories import models as models_repo
from infra.repositories import ratings as ratings_repo
from infra.repositories import suggestions as suggestions_repo
from infra.settings import Settings
from ml.dataset import clean_ratings
from ml.synthetic import generate
from ml.topk import RatedPairs, recommend

VERSION = "20260101T000000.000000Z-bench0"
UVICORN_FLAGS = ["--workers", "1", "--log-level", "warning", "--no-access-log"]

METHOD = (
    "A throw-away database with the synthetic movies, users and ratings of the scale, an active "
    "model row and every user's top 50. Three uvicorn processes with the same flags "
    f"(`{' '.join(UVICORN_FLAGS)}`, uvicorn's default loop and HTTP parser): the API "
    "(`api.app:app_from_env`, its lifespan opening the pool and the Kafka publisher) and a bare "
    "Starlette app whose one route returns, through `JSONResponse`, the API's own response for "
    "one user, and the API again with `STREAMREC_API_IMPRESSIONS=false` (impression logging's "
    "cost: the API, which logs each response on the run's `impressions` topic, over this one). "
    "Load from `bench.loadgen` in a separate process (raw asyncio HTTP/1.1 keep-alive "
    "connections): closed loop with 8 connections, bare, API and API without logging in turn, "
    "three times each, for requests/s (ratio = API / bare, means of the rounds; each round's "
    "ratio too); then "
    "an open loop at a fixed rate (latency counted from each request's scheduled time) on the "
    "API, users in random order. Before the servers start, Postgres's CPU per execution of the "
    "two serving statements (`infra.repositories.serving`: the key read that answers a list's "
    "first page, and the general statement) on one connection, alternating "
    "twice, from the backend's /proc counters."
)

LIMITS = (
    "One Postgres round trip per request, by design: a movie is never served after its rating "
    "is stored, so there is no cache in the API to skip it. The common request is a primary-key "
    "read of the user's one list row, whose items were rendered as JSON when it was written, "
    "and two index ranges that are almost always empty (`statement_postgres_cpu_us`: a fraction "
    "of the general statement's cost); the route splices that text into its body, so the API "
    "neither decodes rows nor encodes JSON. What the bare route does not pay is that round "
    "trip: asyncpg and the pool in the API's one Python process, and the query in a Postgres "
    "backend (`api_cpu_ms_per_request` against `bare_cpu_ms_per_request`, from /proc around "
    "each closed-loop round). On 2 cores shared by the API process, Postgres and the load "
    "generator, that extra CPU per request sets the ratio, and the machine's neighbours move "
    "each round by tens of percent (`round_ratios`)."
)


class Server:
    def __init__(self, factory: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
                 "--port", str(self.port), *UVICORN_FLAGS],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        self.log = log

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
            body: bytes = response.read()
            return body

    async def wait_ready(self, path: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.get, path)
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"server not ready:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _counter(metrics: bytes, name: str) -> float:
    """A counter's value in a Prometheus text page (0 when absent)."""
    for line in metrics.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


def _cpu_snapshot(server_pid: int) -> tuple[float, dict[int, float]]:
    """The server's CPU seconds and each running Postgres process's."""
    return _cpu_seconds(server_pid), {pid: _cpu_seconds(pid) for pid in _postgres_pids()}


def _cpu_ms_per_request(before: tuple[float, dict[int, float]], after: tuple[float, dict[int, float]],
                        requests: int) -> dict[str, float]:
    # A backend started during the round (a new pooled connection) counts from zero.
    postgres = sum(after[1][pid] - before[1].get(pid, 0.0) for pid in after[1])
    return {"server": (after[0] - before[0]) * 1000 / requests, "postgres": postgres * 1000 / requests}


async def run_loadgen(options: dict[str, Any], scratch: Path) -> dict[str, Any]:
    options_file = scratch / "loadgen-options.json"
    options_file.write_text(json.dumps(options))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", str(options_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=float(options["duration"]) + 90)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


async def _fixture(bench: BenchRun, scale: Scale) -> list[int]:
    data = generate(scale.n_users, scale.n_movies, scale.n_ratings, seed=4)
    ratings = clean_ratings(data.ratings)
    users = np.unique(ratings["user_id"].to_numpy(np.int64))
    factors = _fake_factors(scale.n_users, scale.n_movies, 20, 4)
    top = recommend(factors, users, k=50, rated=RatedPairs.from_frame(ratings))
    pool = await db.create_pool(bench.settings)
    try:
        async with pool.acquire() as conn:
            await load_movies(conn, data)
            await load_ratings(conn, ratings)
            # Written after the ratings, as a prediction job would: none is newer than the lists.
            rated_from = (await ratings_repo.rated_pairs(conn, [])).rated_from
            await suggestions_repo.replace_for_users(conn, users.tolist(), top.records(), VERSION,
                                                     rated_from=rated_from)
            await activate_for_serving(conn, len(ratings))
    finally:
        await pool.close()
    return [int(u) for u in users]


async def activate_for_serving(conn: Connection, n_ratings: int) -> None:
    """An active model row named ``VERSION`` (the lists' own), and the tables vacuumed."""
    await models_repo.record(conn, version=VERSION, rmse=0.9, mae=0.7, n_ratings=n_ratings,
                             params={}, sha256="0" * 64, path="bench", ratings_through=None)
    await models_repo.activate(conn, VERSION)
    # Vacuumed as well as analysed: the freshly loaded tables would otherwise get
    # autovacuum's attention while the load runs, which a serving database has not.
    await conn.execute("VACUUM ANALYZE")


CLOSED_ROUNDS = 3
STATEMENT_RUNS = 2000


async def statement_cpu_us(bench: BenchRun, users: list[int], runs: int) -> dict[str, list[float]]:
    """Postgres CPU (µs) per execution of each serving statement, on one connection,
    the two alternating twice: the fast path's key read against the general statement
    that answers any request (the users' first page each time)."""
    statements: dict[str, tuple[str, Callable[[int], tuple[object, ...]]]] = {
        "first_page": (serving.FIRST_PAGE_SQL, lambda u: (u, 50)),
        "list": (serving.LIST_SQL, lambda u: (u, 50, 0, None)),
    }
    conn = await asyncpg.connect(bench.settings.database_url)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        spent: dict[str, list[float]] = {name: [] for name in statements}
        for _ in range(2):
            for name, (sql, args) in statements.items():
                for user in users[:20]:  # past asyncpg's prepare and Postgres's custom plans
                    await conn.fetchrow(sql, *args(user))
                before = _cpu_seconds(backend)
                for i in range(runs):
                    await conn.fetchrow(sql, *args(users[i % len(users)]))
                spent[name].append((_cpu_seconds(backend) - before) * 1e6 / runs)
    finally:
        await conn.close()
    return spent


def _mean_cpu(rounds: list[dict[str, Any]]) -> dict[str, float]:
    return {part: float(np.mean([r["cpu_ms_per_request"][part] for r in rounds]))
            for part in ("server", "postgres")}


async def run(base: Settings, scale: Scale) -> dict[str, Any] | None:
    if importlib.util.find_spec("api") is None:
        print("api: skipped — the api package (api.app.create_app) does not exist yet")
        return None
    smoke = scale.name == "smoke"
    duration, rate, rate_s = (1.0, 100, 1.0) if smoke else (5.0, 1000, 10.0)
    async with bench_run(base, "api", topics=True) as bench:
        users = await _fixture(bench, scale)
        statements = await statement_cpu_us(bench, users, 100 if smoke else STATEMENT_RUNS)
        print(f"api: Postgres CPU µs per execution: {statements}")
        paths = [f"/api/suggestions/?user_id={u}"
                 for u in np.random.default_rng(4).permutation(users).tolist()]
        env = bench.worker_env()
        api = Server("api.app:app_from_env", env, bench.tmp / "api.log")
        # The same API with impression logging off: logging's cost, side by side.
        quiet = Server("api.app:app_from_env", {**env, "STREAMREC_API_IMPRESSIONS": "false"},
                       bench.tmp / "api-no-impressions.log")
        bare: Server | None = None
        try:
            await api.wait_ready(paths[0])
            await quiet.wait_ready(paths[0])
            payload = json.loads(api.get(paths[0]))
            assert payload["source"] == "model" and len(payload["suggestions"]) == 50, payload
            (bench.tmp / "payload.json").write_text(json.dumps(payload))
            bare = Server("bench.bare_app:app_from_env",
                          {**os.environ, "BENCH_PAYLOAD_FILE": str(bench.tmp / "payload.json")},
                          bench.tmp / "bare.log")
            await bare.wait_ready("/api/suggestions/")
            rounds: dict[str, list[dict[str, Any]]] = {"bare": [], "api": [], "api_no_impressions": []}
            for _ in range(CLOSED_ROUNDS):
                for name, server, server_paths in (("bare", bare, ["/api/suggestions/"]),
                                                   ("api", api, paths), ("api_no_impressions", quiet, paths)):
                    before = _cpu_snapshot(server.proc.pid)
                    loaded = await run_loadgen({
                        "host": "127.0.0.1", "port": server.port, "paths": server_paths,
                        "mode": "closed", "concurrency": 8, "duration": duration}, bench.tmp)
                    # Counted over warm-up + measured window: requests scaled to match.
                    served = loaded["requests"] * (duration + loaded["warmup"]) / duration
                    loaded["cpu_ms_per_request"] = _cpu_ms_per_request(
                        before, _cpu_snapshot(server.proc.pid), max(1, round(served)))
                    rounds[name].append(loaded)
                    print(f"api: {name}: {loaded['rps']:,.0f} requests/s, CPU ms per request: "
                          f"{loaded['cpu_ms_per_request']}")
            fixed = await run_loadgen({"host": "127.0.0.1", "port": api.port, "paths": paths,
                                 "mode": "rate", "rate": rate, "duration": rate_s}, bench.tmp)
            print(f"api: at {rate}/s: {fixed['latency_ms']}")
            logged = _counter(api.get("/metrics"), "streamrec_api_impressions_logged_total")
            dropped = _counter(api.get("/metrics"), "streamrec_api_impressions_dropped_total")
        finally:
            api.stop()
            quiet.stop()
            if bare is not None:
                bare.stop()
    bare_rps = float(np.mean([r["rps"] for r in rounds["bare"]]))
    api_rps = float(np.mean([r["rps"] for r in rounds["api"]]))
    ratio = api_rps / bare_rps
    quiet_rps = float(np.mean([r["rps"] for r in rounds["api_no_impressions"]]))
    logging_ratio = api_rps / quiet_rps
    print(f"api: with impression logging / without: {logging_ratio:.3f}x ({logged:,.0f} impressions "
          f"logged, {dropped:,.0f} dropped)")
    targets = [
        at_least("API requests/s / bare Starlette requests/s", ratio, 0.6, "x"),
        at_least("API requests/s with impression logging / without", logging_ratio, 0.95, "x"),
        at_most(f"API p99 at {rate:,} requests/s", fixed["latency_ms"]["p99"], 10.0, "ms"),
    ]
    return {
        "method": METHOD, "limits": LIMITS,
        "bare_rps": bare_rps, "api_rps": api_rps, "ratio": ratio,
        "bare_rounds_rps": [r["rps"] for r in rounds["bare"]],
        "api_rounds_rps": [r["rps"] for r in rounds["api"]],
        "round_ratios": [a["rps"] / b["rps"] for a, b in zip(rounds["api"], rounds["bare"], strict=True)],
        "api_no_impressions_rps": quiet_rps, "impression_logging_ratio": logging_ratio,
        "impression_logging_round_ratios": [
            a["rps"] / b["rps"] for a, b in zip(rounds["api"], rounds["api_no_impressions"], strict=True)],
        "impressions_logged": logged, "impressions_dropped": dropped,
        "api_cpu_ms_per_request": _mean_cpu(rounds["api"]),
        "bare_cpu_ms_per_request": _mean_cpu(rounds["bare"]),
        "bare_closed_loop_ms": rounds["bare"][-1]["latency_ms"],
        "api_closed_loop_ms": rounds["api"][-1]["latency_ms"],
        "errors": sum(r["errors"] for rs in rounds.values() for r in rs) + fixed["errors"],
        "fixed_rate": rate, "fixed_rate_achieved": fixed["rps"],
        "api_fixed_rate_ms": fixed["latency_ms"],
        "api_fixed_rate_slowest_s_ms": fixed["slowest"],
        "closed_loop_connections": 8, "closed_loop_seconds": duration,
        "statement_postgres_cpu_us": statements,
        "n_users": len(users), "payload_bytes": len(json.dumps(payload)),
        "targets": [t.as_dict() for t in targets],
    }
