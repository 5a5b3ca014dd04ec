"""Reading a topic's last (or first) messages, and showing any message safely.

Values are decoded for people: ratings and other JSON events as compact JSON,
dead letters as their reason plus a preview of the original bytes, and anything that
is not text as a length and a hex preview. Nothing here trusts the bytes.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas.events import DeadLetter
from streams.deadletter import original_bytes
from streams.topic_inspect import Kafka

PREVIEW_CHARS = 160
# How long reading the existing messages may go without progress before giving up.
STALL_TIMEOUT_S = 10.0


def preview(data: bytes | None, limit: int = PREVIEW_CHARS) -> str:
    """Text as text (control characters escaped), anything else as hex; bounded."""
    if data is None:
        return "(none)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        shown = data[: max(8, limit // 3)].hex(" ")
        more = "…" if len(data) > max(8, limit // 3) else ""
        return f"<{len(data)} bytes, not UTF-8: {shown}{more}>"
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(escaped) > limit:
        return f"{escaped[:limit]}… ({len(data)} bytes)"
    return escaped


def load_dead_letter(value: bytes | None) -> DeadLetter | None:
    """The dead letter in a DLQ message, or None when the message is not one."""
    if value is None:
        return None
    try:
        letter = DeadLetter.loads(value)
        original_bytes(letter)  # the payload must decode, or the letter is useless
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    return letter if isinstance(letter, DeadLetter) else None


def _json_or_preview(value: bytes | None) -> tuple[Any, bool]:
    """(parsed JSON, True) when the value is JSON, else (preview text, False)."""
    if value is not None:
        try:
            return json.loads(value), True
        except (UnicodeDecodeError, ValueError):
            pass
    return preview(value), False


def _time(timestamp_ms: int | None) -> str:
    if timestamp_ms is None or timestamp_ms < 0:
        return "-"
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ShownRecord:
    """One message, decoded for display: ``line`` for people, ``data`` for --json."""

    meta: str
    body: str
    data: dict[str, Any]


def show(record: ConsumerRecord[bytes, bytes], *, dead_letters: bool) -> ShownRecord:
    meta = f"p{record.partition} @{record.offset} {_time(record.timestamp)} key={preview(record.key, 40)}"
    data: dict[str, Any] = {
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "timestamp": _time(record.timestamp), "key": preview(record.key, 200),
    }
    letter = load_dead_letter(record.value) if dead_letters else None
    if letter is not None:
        key, value = original_bytes(letter)
        source = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
        body = (f"{letter.reason}: {letter.detail} ← {source} "
                f"original key={preview(key, 40)} value={preview(value)}")
        data["dead_letter"] = {
            "reason": letter.reason, "detail": letter.detail, "source_topic": letter.source_topic,
            "source_partition": letter.source_partition, "source_offset": letter.source_offset,
            "failed_at": letter.failed_at.isoformat(), "original_key": preview(key, 200),
            "original_value": preview(value, 2000),
        }
        return ShownRecord(meta, body, data)
    parsed, is_json = _json_or_preview(record.value)
    if is_json:
        body = json.dumps(parsed, separators=(", ", ": "), ensure_ascii=False)
        if len(body) > 4 * PREVIEW_CHARS:
            body = body[: 4 * PREVIEW_CHARS] + "…"
        data["value"] = parsed
    else:
        body = str(parsed)
        data["value_preview"] = parsed
    return ShownRecord(meta, body, data)


async def read_existing(
    kafka: Kafka, topic: str, *, last: int | None, since_ms: int | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """The messages up to the current end: the ``last`` ones (by time), or all of them
    when ``last`` is None — from the beginning, or from the first message timestamped
    at or after ``since_ms``. Leaves the consumer at the end, for :func:`follow`. Gives
    up when the broker sends nothing for ``STALL_TIMEOUT_S``."""
    consumer = kafka.consumer
    described = await kafka.describe([topic])
    tps = [TopicPartition(topic, p["partition"]) for t in described for p in t["partitions"]]
    consumer.assign(tps)
    begin = await consumer.beginning_offsets(tps)
    end = await consumer.end_offsets(tps)
    if since_ms is not None:
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        begin = {tp: end[tp] if found.get(tp) is None else found[tp].offset for tp in tps}
    starts = {tp: begin[tp] if last is None else max(begin[tp], end[tp] - last) for tp in tps}
    for tp, start in starts.items():
        consumer.seek(tp, start)
    remaining = {tp for tp in tps if end[tp] > starts[tp]}
    collected: list[ConsumerRecord[bytes, bytes]] = []
    progress_at = time.monotonic()
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500)
        if batch:
            progress_at = time.monotonic()
        for tp, records in batch.items():
            for record in records:
                if record.offset < end[tp]:
                    if last is None:
                        yield record
                    else:
                        collected.append(record)
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
        if time.monotonic() - progress_at > STALL_TIMEOUT_S:
            break
    if last is not None:
        collected.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
        for record in collected[-last:] if last > 0 else []:
            yield record
    for tp in tps:  # follow from the end snapshot, whatever was read
        consumer.seek(tp, end[tp])


async def follow(kafka: Kafka,
                 until: asyncio.Event | None = None) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """New messages on the assigned partitions, until ``until`` is set (checked every
    half second) or the task is cancelled."""
    while until is None or not until.is_set():
        batch = await kafka.consumer.getmany(timeout_ms=500)
        for records in batch.values():
            for record in records:
                yield record
        await asyncio.sleep(0)
