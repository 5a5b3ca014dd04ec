"""``python -m bench slowbody``: a flood of slow request bodies from one client against
``streamrec api``; ``/readyz`` latency during the flood, side by side with before it, and
the API's memory."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import Scale, at_least, at_most, bench_run, free_port, percentiles
from infra.settings import Settings

STREAMREC = str(Path(sys.executable).with_name("streamrec"))
HEAD = (b"POST /api/ratings HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{")
DRIP_EVERY_S = 2.0  # one byte of body per socket this often: the slow client
PROBE_EVERY_S = 0.05
REOPEN_AFTER_S = 1.0  # a closed socket is opened again after this

METHOD = (
    "A throw-away database and topics of the run's own; `streamrec api` (uvicorn with "
    "`api.server:BoundedHttpTools`, default bounds). A flood process opens the sockets, each "
    "sending a `POST /api/ratings` head announcing 100 bytes of body and then one byte every "
    f"{DRIP_EVERY_S:g} s, and reopens each socket the server closes {REOPEN_AFTER_S:g} s "
    "later, for the whole flood. The benchmark's own process asks `/readyz` every "
    f"{PROBE_EVERY_S * 1000:.0f} ms on a connection of its own, first for the same time "
    "without the flood (the baseline), then during it, and samples the API's RSS from /proc "
    "at every probe. The flood has a process of its own, so the probe's latency is the "
    "server's, not the flood's event loop. The flood's answers are counted by status."
)
LIMITS = (
    "One machine: the flood, the API, Kafka and Postgres share its 2 cores, so the probe's "
    "latency includes the CPU the flood's client takes from the API. The flood comes from one "
    "address, which is the case the per-client cap answers; many addresses are bounded by the "
    "overall cap instead."
)


def _rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _slow_client(port: int, until: float, answers: Counter[str]) -> None:
    """One socket at a time, dripping its body, reopened a second after the server closes it."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            answers["connect_refused"] += 1
            await asyncio.sleep(0.5)
            continue
        try:
            writer.write(HEAD)
            while time.monotonic() < until:
                with contextlib.suppress(TimeoutError):
                    head = await asyncio.wait_for(reader.read(64), DRIP_EVERY_S)
                    answers[head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "closed"] += 1
                    break
                writer.write(b" ")
                await writer.drain()
        except OSError:
            answers["reset"] += 1
        finally:
            writer.close()
        await asyncio.sleep(REOPEN_AFTER_S)


async def _probe(port: int, seconds: float, pid: int) -> tuple[list[float], int, int]:
    """``/readyz`` latencies (ms) for ``seconds``, its failures, and the API's peak RSS."""
    latencies: list[float] = []
    failures = 0
    peak = 0
    until = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                ok = (await client.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            failures += not ok
            peak = max(peak, _rss_bytes(pid))
            await asyncio.sleep(PROBE_EVERY_S)
    return latencies, failures, peak


async def _slow_sockets(port: int, sockets: int, seconds: float) -> dict[str, int]:
    answers: Counter[str] = Counter()
    until = time.monotonic() + seconds
    await asyncio.gather(*(_slow_client(port, until, answers) for _ in range(sockets)),
                         return_exceptions=True)
    return dict(answers)


def _flood_process(port: int, sockets: int, seconds: float, results: Any) -> None:
    """The flood, in a process of its own: its event loop and CPU are not the probe's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, sockets + 512)), hard))
    results.put(asyncio.run(_slow_sockets(port, sockets, seconds)))


async def _flood(port: int, sockets: int, seconds: float, pid: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    flood = context.Process(target=_flood_process, args=(port, sockets, seconds, results), daemon=True)
    flood.start()
    try:
        await asyncio.sleep(1.5)  # the flood is up before the probe starts
        latencies, failures, peak = await _probe(port, seconds - 2.0, pid)
        answers = await asyncio.to_thread(results.get, True, seconds + 30)
    finally:
        await asyncio.to_thread(flood.join, 30)
    return {"latencies": latencies, "failures": failures, "peak_rss": peak, "answers": answers}


def _start_api(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([STREAMREC, "api", "--port", str(port), "--loglevel", "warning"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the API was not ready:\n{log.read_text()[-2000:]}")


async def run(base: Settings, scale: Scale) -> dict[str, Any]:
    smoke = scale.name == "smoke"
    sockets, seconds, rounds = (50, 4.0, 1) if smoke else (2000, 30.0, 3)
    befores: list[list[float]] = []
    floods: list[dict[str, Any]] = []
    async with bench_run(base, "slowbody", topics=True) as bench:
        env = bench.worker_env()
        port = free_port()
        log = bench.tmp / "api.log"
        proc = _start_api(port, env, log)
        try:
            await asyncio.to_thread(_wait_ready, port, proc, log)
            idle_rss = _rss_bytes(proc.pid)
            for _ in range(rounds):  # baseline and flood, side by side, round after round
                befores.append((await _probe(port, seconds / 3, proc.pid))[0])
                floods.append(await _flood(port, sockets, seconds, proc.pid))
            after = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/readyz", timeout=5)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    during = [percentiles(flood["latencies"]) for flood in floods]
    baseline = [percentiles(before) for before in befores]
    worst = max(during, key=lambda p: p["p99"])
    failures = sum(flood["failures"] for flood in floods)
    probes = sum(len(flood["latencies"]) for flood in floods)
    peak = max(flood["peak_rss"] for flood in floods)
    answers = dict(sum((Counter(flood["answers"]) for flood in floods), Counter()))
    print(f"slowbody: {sockets} slow sockets for {seconds:g} s, {rounds} round(s); /readyz p99 per "
          f"round {[round(p['p99'], 1) for p in during]} ms (before each flood "
          f"{[round(p['p99'], 1) for p in baseline]} ms), {failures} failures; API RSS "
          f"{idle_rss / 2**20:.0f} MiB idle, {peak / 2**20:.0f} MiB peak; the floods' answers: {answers}")
    targets = [
        at_most(f"/readyz p99 during {sockets} slow-body sockets (worst of {rounds})", worst["p99"],
                100.0, "ms"),
        at_least("/readyz answers 200 during the flood (share)", 1 - failures / max(1, probes), 1.0, "x"),
    ]
    return {
        "method": METHOD, "limits": LIMITS, "sockets": sockets, "flood_s": seconds, "rounds": rounds,
        "readyz_ms": worst, "readyz_ms_rounds": during, "readyz_before_ms": baseline[0],
        "readyz_before_ms_rounds": baseline, "readyz_probes": probes, "readyz_failures": failures,
        "api_idle_rss_bytes": idle_rss, "api_peak_rss_bytes": peak,
        "flood_answers": answers, "readyz_after_status": after.status_code,
        "targets": [t.as_dict() for t in targets],
    }
