"""``streamrec demo``: the README's main job, step by step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import typer

from infra import db, kafka_admin
from infra.cli.output import console, print_table, settings_of
from infra.errors import StreamrecError
from infra.settings import Settings
from infra.stack import control


def _step(number: int, title: str, action: Callable[[], str]) -> None:
    console.print(f"[bold]{number}. {title}[/] …", highlight=False)
    started = time.monotonic()
    try:
        outcome = action()
    except StreamrecError as err:
        err.message = f"demo step {number} ({title}) failed: {err.message}"
        raise
    console.print(f"   {outcome} ({time.monotonic() - started:.1f} s)", highlight=False)


def _stack_up(settings: Settings) -> str:
    outcomes: list[str] = []
    control.up(settings, lambda service, outcome: outcomes.append(f"{service} {outcome}"))
    return ", ".join(outcomes)


def demo(ctx: typer.Context) -> None:
    """Bring the stack up, migrate, create the topics and show where everything runs."""
    settings = settings_of(ctx)
    _step(1, "start Kafka and Postgres", lambda: _stack_up(settings))
    _step(2, "migrate the schema",
          lambda: f"applied {len(db.migrate(settings.database_url))} migration(s)")
    _step(3, "create the topics",
          lambda: f"created {len(asyncio.run(kafka_admin.ensure_topics(settings)))} topic(s)")
    current = control.status(settings)
    print_table("streamrec is up", ["service", "state", "address"], [
        ("kafka", current.kafka, current.kafka_bootstrap),
        ("postgres", current.postgres, current.database_url),
    ])
    console.print("Stop it with `.venv/bin/streamrec stack down`.", highlight=False)
