"""The dead-letter topic for operators: list its letters, replay them to their source topic
(``hidden-items`` and ``impressions`` for the letters that came from them, ``ratings``
for every other).

Replay progress is kept by a consumer group of its own (``<app_id>-dlq-replay``): its
committed offset on a DLQ partition is the first letter not yet handled, and the commit
metadata lists the letters skipped above it (``--reason`` replays only some), so a
letter is republished at most once across runs and a skipped one stays replayable.
Offsets are committed only after the broker has acknowledged every republished event.
A replayed event that fails again is dead-lettered again by the worker: never lost.
A letter that would fail again for its own reason (validation says so, or only a prefix
of an oversized event was kept) is not republished: it is reported and left pending, so
repeated replays converge instead of dead-lettering it anew each time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from infra.errors import ServiceUnavailable
from infra.kafka import KAFKA_HINT
from infra.settings import Settings
from schemas.errors import StreamrecError
from schemas.events import DeadLetter
from schemas.hidden import parse_hidden
from schemas.impressions import parse_impression
from schemas.ratings import Invalid, Origin, Reason, parse_rating
from streams import topic_inspect
from streams.deadletter import original_bytes
from streams.topic_inspect import Kafka
from streams.topic_tail import load_dead_letter, preview

# Commit metadata must stay below the broker's offset.metadata.max.bytes (4096 by default):
# a run adds at most this many ranges to the (as many) it may carry over.
MAX_PENDING_RANGES = 60
JOIN_TIMEOUT_S = 30.0
READ_STALL_TIMEOUT_S = 10.0
REPLAY_HEADER = "streamrec-replayed-from"
KNOWN_REASONS = frozenset(str(known) for known in Reason)  # the only letters replayed


def replay_group(settings: Settings) -> str:
    return f"{settings.app_id}-dlq-replay"


def dlq_topic(settings: Settings) -> str:
    return settings.topic("ratings-dlq")


# --- progress: committed offset + skipped ranges above it ------------------------------


@dataclass
class Progress:
    """What the replay group has handled on one partition.

    Offsets below ``committed`` are handled; offsets in ``[committed, upto)`` are handled
    unless inside a ``pending`` range (half-open); offsets from ``upto`` on are not.
    """

    committed: int
    upto: int
    pending: list[tuple[int, int]] = field(default_factory=list)

    def handled(self, offset: int) -> bool:
        if offset < self.committed:
            return True
        if offset >= self.upto:
            return False
        return not any(start <= offset < stop for start, stop in self.pending)

    def metadata(self) -> str:
        if not self.pending:
            return ""
        ranges = ",".join(f"{a}-{b}" for a, b in self.pending)
        return f"v1;upto={self.upto};pending={ranges}"

    @classmethod
    def parse(cls, committed: int, metadata: str) -> Progress:
        """From a committed offset and its metadata; unreadable metadata means none."""
        fields = dict(part.split("=", 1) for part in metadata.split(";") if "=" in part)
        if not metadata.startswith("v1;"):
            return cls(committed, committed)
        try:
            pending = [
                (int(a), int(b))
                for a, b in (r.split("-", 1) for r in fields.get("pending", "").split(",") if r)
            ]
            return cls(committed, int(fields["upto"]), pending)
        except (KeyError, ValueError):
            return cls(committed, committed)


class _PendingRanges:
    """Offsets left pending by a run, merged into ranges as they come (in order)."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def would_grow(self, offset: int) -> bool:
        return not self.ranges or self.ranges[-1][1] != offset

    def add(self, offset: int) -> None:
        if self.ranges and self.ranges[-1][1] == offset:
            self.ranges[-1] = (self.ranges[-1][0], offset + 1)
        else:
            self.ranges.append((offset, offset + 1))


def next_progress(end: int, pending: list[tuple[int, int]], previous: Progress | None = None) -> Progress:
    """The progress to commit after a run that handled everything below ``end`` except
    ``pending``; what ``previous`` knew beyond ``end`` (a run stopped early) is kept."""
    if previous is not None and end < previous.upto:
        pending = pending + [(max(a, end), b) for a, b in previous.pending if b > end]
        end = previous.upto
    if not pending:
        return Progress(end, end)
    return Progress(pending[0][0], end, pending)


# --- letters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    """One DLQ message: the dead letter, or None when the message is not one."""

    partition: int
    offset: int
    letter: DeadLetter | None
    status: str = ""  # pending | replayed | skipped | unreadable (for listing)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"partition": self.partition, "offset": self.offset, "status": self.status}
        if self.letter is None:
            return {**data, "reason": "(not a dead letter)"}
        key, value = original_bytes(self.letter)
        return {
            **data,
            "reason": self.letter.reason,
            "detail": self.letter.detail,
            "source_topic": self.letter.source_topic,
            "source_partition": self.letter.source_partition,
            "source_offset": self.letter.source_offset,
            "failed_at": self.letter.failed_at.isoformat(),
            "key": preview(key, 200),
            "value": preview(value, 2000),
        }


async def _require_topic(kafka: Kafka) -> str:
    topic = dlq_topic(kafka.settings)
    if topic not in await kafka.topic_names():
        raise StreamrecError(
            f"the dead-letter topic {topic!r} does not exist",
            hint="create streamrec's topics with `streamrec topics create` (a worker creates them too)",
        )
    return topic


async def _progress(kafka: Kafka, group: str, tps: list[TopicPartition],
                    begin: dict[TopicPartition, int]) -> dict[TopicPartition, Progress]:
    offsets = await kafka.admin.list_consumer_group_offsets(group, partitions=tps)
    progress = {}
    for tp in tps:
        committed = offsets.get(tp)
        if committed is None or committed.offset < 0:
            progress[tp] = Progress(begin[tp], begin[tp])
        else:
            parsed = Progress.parse(committed.offset, committed.metadata or "")
            parsed.committed = max(parsed.committed, begin[tp])  # retention removed the rest
            progress[tp] = parsed
    return progress


async def list_letters(kafka: Kafka, *, limit: int, reason: str | None = None) -> list[Letter]:
    """The last ``limit`` letters (matching ``reason``), oldest first, with their status."""
    from streams.topic_tail import read_existing

    topic = await _require_topic(kafka)
    tps = [TopicPartition(topic, p["partition"]) for t in await kafka.describe([topic])
           for p in t["partitions"]]
    begin = await kafka.consumer.beginning_offsets(tps)
    progress = await _progress(kafka, replay_group(kafka.settings), tps, begin)
    letters: list[Letter] = []
    # With a reason filter the last N matching ones may lie further back: read all.
    async for record in read_existing(kafka, topic, last=None if reason else limit):
        letter = load_dead_letter(record.value)
        if reason is not None and (letter is None or letter.reason != reason):
            continue
        tp = TopicPartition(record.topic, record.partition)
        status = ("unreadable" if letter is None
                  else "replayed" if progress[tp].handled(record.offset) else "pending")
        letters.append(Letter(record.partition, record.offset, letter, status))
    return letters[-limit:] if limit > 0 else []


# --- replay --------------------------------------------------------------------------------


@dataclass
class ReplayOutcome:
    group: str
    dry_run: bool
    replayed: list[Letter] = field(default_factory=list)
    skipped: int = 0  # other reasons: still replayable later
    # Reasons streamrec never writes (a letter of another program, or of a later version):
    # left pending, not republished, since nothing says replaying them is safe.
    unknown_reason: int = 0
    still_failing: list[Letter] = field(default_factory=list)  # left pending, not republished
    already_replayed: int = 0
    unreadable: int = 0
    stopped_early_at: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "dry_run": self.dry_run,
            "replayed": len(self.replayed),
            "skipped_other_reasons": self.skipped,
            "still_failing": len(self.still_failing),
            "unknown_reason": self.unknown_reason,
            "already_replayed": self.already_replayed,
            "unreadable": self.unreadable,
            "stopped_early_at": self.stopped_early_at,
            "letters": [letter.as_json() for letter in self.replayed],
        }


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.partitions: set[TopicPartition] = set()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.event.clear()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.partitions = set(assigned)
        self.event.set()


@contextlib.asynccontextmanager
async def _group_member(
    settings: Settings, topic: str
) -> AsyncIterator[tuple[AIOKafkaConsumer, set[TopicPartition]]]:
    """A member of the replay group holding the DLQ's partitions: one replay at a time."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=replay_group(settings),
        enable_auto_commit=False, auto_offset_reset="earliest", request_timeout_ms=10_000,
        fetch_max_wait_ms=100,
    )
    listener = _Assigned()
    try:
        await consumer.start()
    except (KafkaError, OSError) as err:
        with contextlib.suppress(Exception):
            await consumer.stop()
        raise topic_inspect.unreachable(settings, err) from err
    try:
        consumer.subscribe([topic], listener=listener)
        # aiokafka's coordinator joins the group in the background.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener.event.wait(), JOIN_TIMEOUT_S)
        if not listener.event.is_set() or not listener.partitions:
            raise StreamrecError(
                f"could not take the dead-letter topic for group {replay_group(settings)!r} "
                f"within {JOIN_TIMEOUT_S:.0f} s",
                hint="another `streamrec dlq replay` may be running; wait for it and try again",
            )
        consumer.pause(*listener.partitions)  # positions are set explicitly below
        yield consumer, listener.partitions
    finally:
        await consumer.stop()


async def _read_from(consumer: AIOKafkaConsumer, tp: TopicPartition, start: int,
                     end: int) -> list[ConsumerRecord[bytes, bytes]]:
    consumer.seek(tp, start)
    consumer.resume(tp)
    records: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    stalled_since = loop.time()
    while await consumer.position(tp) < end:
        batch = await consumer.getmany(tp, timeout_ms=500)
        for record in batch.get(tp, []):
            if record.offset < end:
                records.append(record)
        if batch:
            stalled_since = loop.time()
        elif loop.time() - stalled_since > READ_STALL_TIMEOUT_S:
            raise ServiceUnavailable(
                f"reading {tp.topic}[{tp.partition}] stalled at offset {await consumer.position(tp)}",
                hint=KAFKA_HINT,
            )
    consumer.pause(tp)
    return records


async def replay(kafka: Kafka, *, reason: str | None = None, dry_run: bool = False) -> ReplayOutcome:
    """Republish the original key and value of each not-yet-replayed letter (of
    ``reason``) to its source topic (:func:`replay_topic`), then commit the progress;
    ``dry_run`` sends and commits nothing."""
    settings = kafka.settings
    topic = await _require_topic(kafka)
    ratings = settings.topic("ratings")
    if ratings not in await kafka.topic_names():
        raise StreamrecError(f"the ratings topic {ratings!r} does not exist",
                             hint="create streamrec's topics with `streamrec topics create`")
    outcome = ReplayOutcome(replay_group(settings), dry_run)
    async with _group_member(settings, topic) as (consumer, partitions):
        tps = sorted(partitions)
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        progress = await _progress(kafka, outcome.group, tps, begin)
        commits: dict[TopicPartition, Progress] = {}
        for tp in tps:
            done = progress[tp]
            records = await _read_from(consumer, tp, done.committed, end[tp])
            pending = _PendingRanges()
            stop_at = end[tp]
            for record in records:
                if done.handled(record.offset):
                    outcome.already_replayed += 1
                    continue
                letter = load_dead_letter(record.value)
                if letter is None:
                    outcome.unreadable += 1  # never replayable: counts as handled
                    continue
                other_reason = reason is not None and letter.reason != reason
                unknown = not other_reason and letter.reason not in KNOWN_REASONS
                fails_again = not (other_reason or unknown) and would_fail_again(letter, settings)
                if other_reason or unknown or fails_again:
                    if pending.would_grow(record.offset) and len(pending.ranges) >= MAX_PENDING_RANGES:
                        stop_at = record.offset
                        outcome.stopped_early_at = record.offset
                        break
                    pending.add(record.offset)
                    if fails_again:
                        outcome.still_failing.append(Letter(tp.partition, record.offset, letter,
                                                            "fails again: left"))
                    elif unknown:
                        outcome.unknown_reason += 1
                    else:
                        outcome.skipped += 1
                    continue
                outcome.replayed.append(Letter(tp.partition, record.offset, letter, "replayed"))
            commits[tp] = next_progress(stop_at, pending.ranges, done)
        if dry_run:
            return outcome
        await _republish(settings, topic, outcome.replayed)
        await consumer.commit({tp: OffsetAndMetadata(p.committed, p.metadata()) for tp, p in commits.items()})
    return outcome


# The topics whose letters go back where they came from, with their parser; every other
# letter (of ``ratings`` or of an operator's ``dlq skip``) goes to ``ratings``.
_OWN_TOPICS = {"hidden-items": parse_hidden, "impressions": parse_impression}


def replay_topic(letter: DeadLetter, settings: Settings) -> str:
    """Where a letter is republished: ``hidden-items`` and ``impressions`` for their own
    letters, else ``ratings``."""
    own = {settings.topic(name) for name in _OWN_TOPICS}
    return letter.source_topic if letter.source_topic in own else settings.topic("ratings")


def would_fail_again(letter: DeadLetter, settings: Settings) -> bool:
    """True when republishing ``letter`` would only dead-letter it again for its reason."""
    if letter.truncated:
        return True  # only a prefix was kept: the event cannot be rebuilt
    key, value = original_bytes(letter)
    origin = Origin(letter.source_topic, letter.source_partition, letter.source_offset,
                    letter.source_timestamp_ms)
    target = replay_topic(letter, settings)
    parsers = {settings.topic(name): parse for name, parse in _OWN_TOPICS.items()}
    parsed: object = parsers.get(target, parse_rating)(key, value, origin, settings.rated_at_window)
    return isinstance(parsed, Invalid) and str(parsed.reason) == letter.reason


async def _republish(settings: Settings, dlq: str, letters: list[Letter]) -> None:
    """Send every letter's original bytes and wait for all acknowledgements."""
    if not letters:
        return
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5, request_timeout_ms=10_000)
    try:
        await producer.start()
        pending = []
        for item in letters:
            assert item.letter is not None
            key, value = original_bytes(item.letter)
            header = f"{dlq}:{item.partition}:{item.offset}".encode()
            pending.append(await producer.send(replay_topic(item.letter, settings), value, key=key,
                                               headers=[(REPLAY_HEADER, header)]))
        await asyncio.gather(*pending)
    except (KafkaError, OSError) as err:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka_bootstrap} did not accept the replayed events: {err!r}; "
            "nothing was marked as replayed",
            hint=KAFKA_HINT,
        ) from err
    finally:
        await producer.stop()
