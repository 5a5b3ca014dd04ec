"""The `streamrec` CLI against the real broker and Postgres, with topics, a consumer
group id and a database of each test's own.

Commands run in-process through Typer's CliRunner (fast); the tests of exit codes and
of what a person sees on errors run the installed `streamrec` as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from click.testing import Result
from typer.testing import CliRunner

from cli import app as streamrec_app
from infra.settings import Settings
from streams import topic_admin

STREAMREC = str(Path(sys.executable).with_name("streamrec"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cli:
    settings: Settings
    env: dict[str, str]
    runner: CliRunner

    def run(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(streamrec_app, list(args), env=self.env)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def subprocess(
        self, *args: str, timeout: float = 60, **overrides: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([STREAMREC, *args], env={**os.environ, **self.env, **overrides},
                              capture_output=True, text=True, timeout=timeout, check=False)

    # --- Kafka, as a producer or consumer outside the CLI would -------------------------

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def produce(self, name: str, messages: list[tuple[bytes | None, bytes]], *,
                partition: int | None = None, timestamps: list[int] | None = None) -> None:
        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
            await producer.start()
            try:
                for i, (key, value) in enumerate(messages):
                    await producer.send_and_wait(
                        self.topic(name), value, key=key, partition=partition,
                        timestamp_ms=timestamps[i] if timestamps else None,
                    )
            finally:
                await producer.stop()
        asyncio.run(send())

    async def _partitions(self, name: str) -> list[int]:
        async with topic_admin.admin_client(self.settings) as admin:
            described = await admin.describe_topics([self.topic(name)])
        return sorted(p["partition"] for p in described[0]["partitions"])

    def consume_all(self, name: str, *, group: str | None = None) -> list[ConsumerRecord[bytes, bytes]]:
        """Every message of a topic; with ``group``, commits the end as that group."""
        async def read() -> list[ConsumerRecord[bytes, bytes]]:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, group_id=group,
                                        enable_auto_commit=False)
            await consumer.start()
            try:
                tps = [TopicPartition(self.topic(name), p) for p in await self._partitions(name)]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                end = await consumer.end_offsets(tps)
                records: list[ConsumerRecord[bytes, bytes]] = []
                while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                    for batch in (await consumer.getmany(timeout_ms=1000)).values():
                        records += batch
                if group is not None:
                    await consumer.commit({tp: end[tp] for tp in tps})
                return records
            finally:
                await consumer.stop()
        return asyncio.run(read())


@pytest.fixture
def cli(settings: Settings, database_url: str) -> Iterator[Cli]:
    """Topics (4 ratings partitions) created; a migrated database of the test's own."""
    settings = settings.model_copy(update={
        "app_id": f"streamrec-cli-{uuid.uuid4().hex[:8]}", "ratings_partitions": 4,
        "prediction_jobs_partitions": 2, "database_url": database_url,
    })
    env = {
        "STREAMREC_TOPIC_PREFIX": settings.topic_prefix,
        "STREAMREC_APP_ID": settings.app_id,
        "STREAMREC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "STREAMREC_DATABASE_URL": database_url,
        "STREAMREC_RATINGS_PARTITIONS": "4",
        "STREAMREC_PREDICTION_JOBS_PARTITIONS": "2",
        "COLUMNS": "250",
    }
    asyncio.run(topic_admin.ensure_topics(settings))
    yield Cli(settings, env, CliRunner())
