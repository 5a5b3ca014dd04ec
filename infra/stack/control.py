"""``stack up | down | status``: both services together, in a fixed order, and the
Spark cluster when asked for (``up --spark``)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.settings import Settings
from infra.stack import kafka, postgres, spark


@dataclass(frozen=True)
class StackStatus:
    kafka_bootstrap: str
    database_url: str
    kafka: str  # "up" | "down"
    postgres: str  # "up" | "down"
    kafka_pid: int | None
    postgres_pid: int | None
    home: str
    spark: str = "off"  # "up" | "down" (started, not answering) | "off" (not started)
    spark_master: str = ""
    spark_pid: int | None = None  # the master's

    @property
    def healthy(self) -> bool:
        return "down" not in (self.kafka, self.postgres, self.spark)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def status(settings: Settings) -> StackStatus:
    """Each service is "up" when it answers: Kafka a metadata request, Postgres a query."""
    kafka_proc, pg_proc = kafka.running(settings), postgres.running(settings)
    spark_proc = spark.running(settings)
    spark_state = "up" if spark.is_ready(settings) else "down" if spark_proc else "off"
    return StackStatus(
        kafka_bootstrap=settings.kafka_bootstrap,
        database_url=settings.database_url,
        kafka="up" if kafka.is_ready(settings) else "down",
        postgres="up" if postgres.is_ready(settings) else "down",
        kafka_pid=kafka_proc.pid if kafka_proc else None,
        postgres_pid=pg_proc.pid if pg_proc else None,
        home=str(settings.home.resolve()),
        spark=spark_state,
        spark_master=settings.spark_cluster_url,
        spark_pid=spark_proc.pid if spark_proc else None,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_settings(base: Settings, home: Path) -> Settings:
    """Settings of a stack of its own under ``home`` (free loopback ports, a small Kafka
    heap, the jars of ``base``'s cache), so a caller may stop and freeze its services
    without disturbing anyone else's."""
    home.chmod(0o755)  # the postgres user must reach its data directory
    jar_cache = (base.home / "cache").resolve()
    if jar_cache.is_dir():
        (home / "cache").symlink_to(jar_cache)
    return base.model_copy(update={
        "home": home,
        "kafka_bootstrap": f"127.0.0.1:{_free_port()}",
        "kafka_controller_port": _free_port(),
        "database_url": f"postgresql://streamrec:streamrec@127.0.0.1:{_free_port()}/streamrec",
        "kafka_heap": "384m",
    })


def up(settings: Settings, report: Callable[[str, str], None], *, with_spark: bool = False) -> None:
    """Start Postgres, then Kafka, then (``with_spark``) the Spark cluster;
    ``report(service, outcome)`` after each."""
    report("postgres", postgres.start(settings))
    report("kafka", kafka.start(settings))
    if with_spark:
        report("spark", spark.start(settings))


def down(settings: Settings, report: Callable[[str, str], None]) -> None:
    """Stop exactly the processes ``up`` started (by recorded PID and start time)."""
    if spark.running(settings) or spark.worker_running(settings):
        report("spark", spark.stop(settings))
    report("kafka", kafka.stop(settings))
    report("postgres", postgres.stop(settings))
