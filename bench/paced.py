"""Publishing ratings at a fixed rate and timing when each one's effect becomes visible.

The ingest and realtime benchmarks share this: messages go out in ticks of 10 ms
(``rate / 100`` per tick) from a producer configured as the API's (acks=all,
idempotent, linger 5 ms), while a poller asks, every ``poll_s``, which of the events
sent so far are visible (then waits as long again as the poll took, if that is longer);
a benchmark says what "visible" means (``Visible``). An event's
latency is from just before its ``send()`` to the moment its effect became visible:
the commit the benchmark read it from (``PacedRun.visible_wall``) when it can tell,
else the first poll that saw it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.common import percentiles
from bench.worker import WorkerProcess
from infra.settings import Settings

TICK_S = 0.01
GRACE_S = 15.0  # how long to wait for the last events' effects once all are sent

# Given the indexes of the events not seen yet, the ones whose effect is now visible.
Visible = Callable[[list[int], "PacedRun"], Awaitable[list[int]]]


@dataclass
class PacedRun:
    sent_perf: list[float] = field(default_factory=list)  # perf_counter just before send()
    sent_wall: list[float] = field(default_factory=list)  # time.time() at the same moment
    seen: dict[int, float] = field(default_factory=dict)  # index -> perf_counter when seen
    # index -> time.time() of the commit that made the effect visible, where known
    visible_wall: dict[int, float] = field(default_factory=dict)
    publish_s: float = 0.0

    def latency_ms(self, i: int) -> float:
        """Send to visible: the commit's time where known, else the poll's."""
        if i in self.visible_wall:
            return (self.visible_wall[i] - self.sent_wall[i]) * 1000
        return self.seen_latency_ms(i)

    def seen_latency_ms(self, i: int) -> float:
        return (self.seen[i] - self.sent_perf[i]) * 1000

    def latencies_ms(self) -> list[float]:
        return [self.latency_ms(i) for i in self.seen]

    def summary(self, rate: int) -> dict[str, Any]:
        latencies = self.latencies_ms()
        committed = sum(1 for i in self.seen if i in self.visible_wall)
        return {
            "latency_rate": rate,
            "latency_events": len(self.sent_perf),
            "latency_publish_s": self.publish_s,
            "latency_achieved_rate": len(self.sent_perf) / self.publish_s,
            "latency_unseen": len(self.sent_perf) - len(self.seen),
            "latency_ms": percentiles(latencies),
            # "commit": every latency ends at the commit that made it visible; "poll": at the poll
            "latency_clock": ("commit" if committed == len(self.seen) else "mixed" if committed
                              else "poll"),
            "latency_seen_ms": percentiles([self.seen_latency_ms(i) for i in self.seen]),
            "latencies_ms": sorted(round(x, 2) for x in latencies)[:: max(1, len(latencies) // 2000)],
        }


async def publish_paced(settings: Settings, worker: WorkerProcess, messages: list[tuple[bytes, bytes]],
                        rate: int, visible: Visible, poll_s: float) -> PacedRun:
    """Send ``messages`` to the ratings topic at ``rate`` per second and time each one's
    effect (see the module's docstring); the worker must stay alive throughout."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()
    topic = settings.topic("ratings")
    run = PacedRun()
    done = asyncio.Event()

    async def publish() -> None:
        per_tick = max(1, rate // 100)
        started = time.perf_counter()
        futures = []
        for tick, start in enumerate(range(0, len(messages), per_tick)):
            delay = started + tick * TICK_S - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            for key, value in messages[start : start + per_tick]:
                run.sent_wall.append(time.time())
                run.sent_perf.append(time.perf_counter())
                futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
        run.publish_s = time.perf_counter() - started
        done.set()

    async def poll() -> None:
        grace_until: float | None = None
        # Sent and not seen yet, kept as sends and sightings happen: a poll's cost grows
        # with the events in flight, not with every event sent so far.
        waiting: dict[int, None] = {}
        queued = 0
        while True:
            waiting.update(dict.fromkeys(range(queued, len(run.sent_perf))))
            queued = len(run.sent_perf)
            polled = time.perf_counter()
            if waiting:
                found = await visible(list(waiting), run)
                now = time.perf_counter()
                for i in found:
                    if i in waiting:
                        del waiting[i]
                        run.seen[i] = now
            if done.is_set():
                if len(run.seen) == len(run.sent_perf):
                    return
                grace_until = grace_until or time.monotonic() + GRACE_S
                if time.monotonic() > grace_until:
                    return
            worker.check_alive()
            # At most half the poller's time in polls: with many events waiting, a poll's
            # queries would otherwise take the CPU the pipeline needs to catch up.
            await asyncio.sleep(max(poll_s, time.perf_counter() - polled))

    try:
        await asyncio.gather(publish(), poll())
    finally:
        await producer.stop()
    return run
