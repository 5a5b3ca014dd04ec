"""``stack up | down | status``: both services together, in a fixed order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from infra.settings import Settings
from infra.stack import kafka, postgres


@dataclass(frozen=True)
class StackStatus:
    kafka_bootstrap: str
    database_url: str
    kafka: str  # "up" | "down"
    postgres: str  # "up" | "down"
    kafka_pid: int | None
    postgres_pid: int | None
    home: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def status(settings: Settings) -> StackStatus:
    """Each service is "up" when it answers: Kafka a metadata request, Postgres a query."""
    kafka_proc, pg_proc = kafka.running(settings), postgres.running(settings)
    return StackStatus(
        kafka_bootstrap=settings.kafka_bootstrap,
        database_url=settings.database_url,
        kafka="up" if kafka.is_ready(settings) else "down",
        postgres="up" if postgres.is_ready(settings) else "down",
        kafka_pid=kafka_proc.pid if kafka_proc else None,
        postgres_pid=pg_proc.pid if pg_proc else None,
        home=str(settings.home.resolve()),
    )


def up(settings: Settings, report: Callable[[str, str], None]) -> None:
    """Start Postgres, then Kafka; ``report(service, outcome)`` after each."""
    report("postgres", postgres.start(settings))
    report("kafka", kafka.start(settings))


def down(settings: Settings, report: Callable[[str, str], None]) -> None:
    """Stop exactly the processes ``up`` started (by recorded PID and start time)."""
    report("kafka", kafka.stop(settings))
    report("postgres", postgres.stop(settings))
