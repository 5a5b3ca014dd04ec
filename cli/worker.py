"""``streamrec worker``: run every agent in this process (start several to scale out)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from cli.output import settings_of
from streams import topic_admin


def worker(
    ctx: typer.Context,
    loglevel: str = typer.Option("info", "--loglevel", help="debug, info, warning or error."),
) -> None:
    """Consume ratings, retrain, fan out and predict: all agents in one Faust worker."""
    import faust
    import uvloop

    # uvloop's event loop (as under uvicorn): Faust's per-message stream work is mostly
    # event-loop scheduling, which uvloop does in C.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    from agents.worker import build_worker_app

    settings = settings_of(ctx)
    asyncio.run(topic_admin.ensure_topics(settings))  # with the configured partitions
    app, deps = build_worker_app(settings)
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, settings.api_host, registry=deps.metrics.registry)
    Path(app.conf.datadir).parent.mkdir(parents=True, exist_ok=True)  # Faust makes one level
    logging.getLogger("faust").setLevel(loglevel.upper())
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
