"""HTTP/1.1 load generator on raw asyncio streams, run as its own process by the api
benchmark: ``python -m bench.loadgen OPTIONS.json`` prints a JSON result.

Closed loop (``concurrency`` keep-alive connections, each sending its next request when
the previous answer is in) for throughput; open loop (requests scheduled at a fixed
``rate``, latency counted from the scheduled time, so a slow server cannot hide its
queue) for latency.  A request counts only with status 200.  The generator runs with
its garbage collector off, so that its own pauses are not counted as the server's.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    async def get(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def _connect(host: str, port: int) -> Connection:
    reader, writer = await asyncio.open_connection(host, port)
    return Connection(reader, writer, host)


def _summary(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    arr = np.asarray(latencies, dtype=np.float64) * 1000
    pct = {f"p{p}": float(np.percentile(arr, p)) if len(arr) else float("nan") for p in (50, 95, 99)}
    return {"requests": len(latencies), "errors": errors, "seconds": seconds,
            "rps": len(latencies) / seconds if seconds else 0.0,
            "latency_ms": pct | {"max": float(arr.max()) if len(arr) else float("nan")}}


async def closed_loop(host: str, port: int, paths: list[str], concurrency: int, duration: float,
                      warmup: float) -> dict[str, Any]:
    conns = [await _connect(host, port) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def loop(conn: Connection, offset: int) -> None:
        nonlocal errors
        i = offset
        while (now := time.perf_counter()) < stop_at:
            status = await conn.get(paths[i % len(paths)])
            i += concurrency
            if now >= measure_from:
                if status == 200:
                    latencies.append(time.perf_counter() - now)
                else:
                    errors += 1

    await asyncio.gather(*(loop(c, n) for n, c in enumerate(conns)))
    for conn in conns:
        conn.writer.close()
    return _summary(latencies, errors, duration) | {"warmup": warmup}


async def open_loop(host: str, port: int, paths: list[str], rate: int, duration: float,
                    connections: int) -> dict[str, Any]:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await _connect(host, port))
    latencies: list[float] = []
    sent_at: list[float] = []
    errors = 0

    async def one(path: str, scheduled: float) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            status = await conn.get(path)
        finally:
            idle.put_nowait(conn)
        if status == 200:
            latencies.append(time.perf_counter() - scheduled)
            sent_at.append(scheduled - start)
        else:
            errors += 1

    start = time.perf_counter()
    total = int(rate * duration)
    pending: set[asyncio.Future[None]] = set()
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(one(paths[i % len(paths)], scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending), timeout=60)
    seconds = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().writer.close()
    result = _summary(latencies, errors, seconds)
    result["rate"] = rate
    # When the slowest requests were scheduled (s into the run) and how long they took.
    slowest = np.argsort(latencies)[-20:][::-1]
    result["slowest"] = [[round(sent_at[i], 3), round(latencies[i] * 1000, 1)] for i in slowest]
    result["per_second"] = per_second(sent_at, latencies)
    return result


def per_second(sent_at: list[float], latencies: list[float]) -> list[dict[str, float]]:
    """Requests answered and their p99 (ms), by the second of the run they were scheduled in."""
    if not sent_at:
        return []
    seconds = np.asarray(sent_at, dtype=np.int64)
    values = np.asarray(latencies, dtype=np.float64) * 1000
    return [{"t": float(second), "n": float(np.sum(seconds == second)),
             "p99_ms": float(np.percentile(values[seconds == second], 99))}
            for second in np.unique(seconds)]


async def main(options: dict[str, Any]) -> dict[str, Any]:
    host, port, paths = options["host"], int(options["port"]), list(options["paths"])
    if options["mode"] == "closed":
        return await closed_loop(host, port, paths, int(options["concurrency"]),
                                 float(options["duration"]), float(options.get("warmup", 0.5)))
    return await open_loop(host, port, paths, int(options["rate"]), float(options["duration"]),
                           int(options.get("connections", 32)))


if __name__ == "__main__":
    # The generator's own garbage-collection pauses would be counted as the server's
    # latency; a run allocates little that is not freed by reference counting.
    gc.disable()
    print(json.dumps(asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))))
