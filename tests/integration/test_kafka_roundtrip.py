"""A round trip through the real broker with aiokafka: produce, consume, commit."""

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.settings import Settings
from streams import topic_admin


async def _consume(settings: Settings, topic: str, group: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        while len(values) < count:
            batch = await consumer.getmany(timeout_ms=10_000, max_records=count - len(values))
            assert batch, "the broker delivered nothing within 10 s"
            for records in batch.values():
                values.extend(record.value for record in records)
        await consumer.commit()
        return values
    finally:
        await consumer.stop()


async def test_produce_consume_and_resume_from_committed_offset(settings: Settings) -> None:
    await topic_admin.ensure_topics(settings)
    topic = settings.topic("ratings-dlq")  # one partition: order is total
    group = f"roundtrip-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"event-{i}".encode(), key=b"k")
    finally:
        await producer.stop()

    first = await _consume(settings, topic, group, 6)
    assert first == [f"event-{i}".encode() for i in range(6)]

    # A new consumer of the same group starts at the committed offset, not the beginning.
    rest = await _consume(settings, topic, group, 4)
    assert rest == [f"event-{i}".encode() for i in range(6, 10)]

    checker = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group)
    await checker.start()
    try:
        assert await checker.committed(TopicPartition(topic, 0)) == 10
    finally:
        await checker.stop()
