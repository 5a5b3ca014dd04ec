"""``streamrec stack up | down | status``."""

from __future__ import annotations

import time

import typer

from cli.output import console, print_json, print_table, settings_of
from infra.stack import control

app = typer.Typer(help="Run the local Kafka broker and Postgres without Docker.",
                  no_args_is_help=True)


def _report(service: str, outcome: str) -> None:
    console.print(f"{service:>8}: {outcome}", highlight=False)


@app.command()
def up(
    ctx: typer.Context,
    with_spark: bool = typer.Option(
        False, "--spark", help="Also start a Spark standalone master and worker (the spark "
        "training engine's cluster; needs the spark extra and Java 17)."),
) -> None:
    """Start Postgres and Kafka (idempotent: running services are left as they are)."""
    settings = settings_of(ctx)
    started = time.monotonic()
    control.up(settings, _report, with_spark=with_spark)
    console.print(f"stack up in {time.monotonic() - started:.1f} s", highlight=False)
    console.print(f"  kafka:    {settings.kafka_bootstrap}\n  postgres: {settings.database_url}",
                  highlight=False)
    if with_spark:
        console.print(f"  spark:    {settings.spark_cluster_url} (web UI http://127.0.0.1:"
                      f"{settings.spark_master_ui_port}/); train on it with STREAMREC_TRAIN_ENGINE=spark "
                      f"STREAMREC_SPARK_MASTER={settings.spark_cluster_url}", highlight=False)


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the services `stack up` started (by PID); nothing else is touched."""
    control.down(settings_of(ctx), _report)


@app.command()
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Whether each service answers (Spark: "off" unless `up --spark` started it); exit
    code 1 when one is down."""
    current = control.status(settings_of(ctx))
    if as_json:
        print_json(current.as_dict())
    else:
        print_table("streamrec stack", ["service", "state", "address", "pid"], [
            ("kafka", current.kafka, current.kafka_bootstrap, current.kafka_pid),
            ("postgres", current.postgres, current.database_url, current.postgres_pid),
            ("spark", current.spark, current.spark_master, current.spark_pid),
        ])
    if not current.healthy:
        raise typer.Exit(1)
