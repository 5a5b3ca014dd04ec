"""Moving the ratings consumer past one message by hand (``streamrec dlq skip``).

The worker dead-letters every bad event itself, so this is the operator's last resort
for a message that still stops a partition (a bug streamrec has not met yet). Nothing
is lost: the skipped message is dead-lettered first (reason ``skipped_by_operator``,
bounded like every letter), and only then is the ratings group's offset moved past it.
It moves past exactly one message: the group's committed offset on the partition must
be that message's, and the workers must be stopped (Kafka refuses a commit for a group
with members).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from infra.errors import ServiceUnavailable
from infra.kafka import KAFKA_HINT
from schemas.errors import StreamrecError
from schemas.ratings import Invalid, Origin, Reason
from streams.batch_consumer import ratings_group
from streams.deadletter import RawMessage, dead_letter, letter_key
from streams.topic_inspect import Kafka, group_state

READ_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Skipped:
    topic: str
    partition: int
    offset: int
    group: str
    size: int
    letter_offset: int

    def as_json(self) -> dict[str, object]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset,
                "group": self.group, "bytes": self.size, "dead_letter_offset": self.letter_offset}


async def skip(kafka: Kafka, *, partition: int, offset: int) -> Skipped:
    """Dead-letter the ratings message at ``partition``/``offset`` and commit the
    ratings group past it; :class:`StreamrecError` saying why when that is not safe."""
    settings = kafka.settings
    topic, group = settings.topic("ratings"), ratings_group(settings)
    tp = TopicPartition(topic, partition)
    described = await kafka.describe([topic])
    partitions = {p["partition"] for t in described for p in t["partitions"]}
    if partition not in partitions:
        raise StreamrecError(f"{topic} has no partition {partition}",
                             hint=f"partitions: {', '.join(map(str, sorted(partitions))) or 'none'}")
    state, members, _ = await group_state(kafka, group)
    if members:
        raise StreamrecError(f"the consumer group {group} has {members} member(s) ({state})",
                             hint="stop every `streamrec worker` first; Kafka moves a group's "
                                  "offsets only while it has no members")
    committed = (await kafka.admin.list_consumer_group_offsets(group)).get(tp)
    position = committed.offset if committed is not None and committed.offset >= 0 else None
    if position != offset:
        raise StreamrecError(
            f"the group {group} is at offset {position} of partition {partition}, not {offset}",
            hint="skip moves past the one message the group is stuck on: pass the offset that "
                 "`streamrec topics lag` shows as committed")
    record = await _read_one(kafka.consumer, tp, offset)
    message = RawMessage(record.key, record.value,
                         Origin(topic, partition, offset, record.timestamp if record.timestamp > 0 else None))
    letter = dead_letter(message, Invalid(Reason.SKIPPED_BY_OPERATOR, "skipped by an operator"))
    letter_offset = await _send_letter(kafka, letter.dumps(), letter_key(record.key))
    await _commit(kafka, group, tp, offset + 1)
    return Skipped(topic, partition, offset, group, len(record.value or b""), letter_offset)


async def _read_one(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int
) -> ConsumerRecord[bytes, bytes]:
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    if offset >= end:
        raise StreamrecError(f"{tp.topic} partition {tp.partition} has no message at offset {offset} "
                             f"(its end is {end})", hint="nothing to skip: the group is caught up")
    consumer.seek(tp, offset)
    try:
        return await asyncio.wait_for(consumer.getone(tp), READ_TIMEOUT_S)
    except TimeoutError as err:
        raise ServiceUnavailable(f"Kafka sent no message at {tp.topic}/{tp.partition}/{offset} "
                                 f"within {READ_TIMEOUT_S:g} s", hint=KAFKA_HINT) from err


async def _send_letter(kafka: Kafka, value: bytes, key: bytes | None) -> int:
    settings = kafka.settings
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, request_timeout_ms=10_000)
    try:
        await producer.start()
        sent = await producer.send_and_wait(settings.topic("ratings-dlq"), value, key=key)
        return int(sent.offset)
    except (KafkaError, OSError) as err:
        raise ServiceUnavailable(f"the dead letter was not accepted: {err!r}; nothing was skipped",
                                 hint=KAFKA_HINT) from err
    finally:
        await producer.stop()


async def _commit(kafka: Kafka, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.settings.kafka_bootstrap, group_id=group,
                                enable_auto_commit=False)
    try:
        await consumer.start()
        consumer.assign([tp])  # a manual assignment: commits without joining the group
        await consumer.commit({tp: OffsetAndMetadata(offset, "skipped by streamrec dlq skip")})
    except KafkaError as err:
        raise StreamrecError(
            f"the offset of {group} was not moved ({err!r}); the message was dead-lettered, so "
            "running skip again after the workers stopped is safe",
            hint="stop every `streamrec worker` and try again") from err
    finally:
        await consumer.stop()
