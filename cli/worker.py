"""``streamrec worker``: run every agent in this process (start several to scale out)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from cli.output import settings_of


def worker(
    ctx: typer.Context,
    loglevel: str = typer.Option("info", "--loglevel", help="debug, info, warning or error."),
    wait: bool | None = typer.Option(
        None, "--wait/--no-wait",
        help="Wait for Kafka and Postgres at start, or exit at once [default: "
        "STREAMREC_WORKER_WAIT_FOR_SERVICES, true]."),
) -> None:
    """Consume ratings, retrain, fan out and predict: all agents in one Faust worker."""
    import faust
    import uvloop

    # uvloop's event loop (as under uvicorn): Faust's per-message stream work is mostly
    # event-loop scheduling, which uvloop does in C.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    from agents.startup import wait_for_services
    from agents.worker import build_worker_app

    settings = settings_of(ctx)
    if settings.train_engine == "spark":  # say now, not at the first retrain, what is missing
        from ml.spark_engine import require_spark

        require_spark()
    asyncio.run(wait_for_services(settings, wait=settings.worker_wait_for_services if wait is None else wait))
    app, deps = build_worker_app(settings)
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, settings.api_host, registry=deps.metrics.registry)
    Path(app.conf.datadir).parent.mkdir(parents=True, exist_ok=True)  # Faust makes one level
    logging.getLogger("faust").setLevel(loglevel.upper())
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
