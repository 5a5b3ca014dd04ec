"""``streamrec api``: serve the HTTP API (and the HTMX page) on uvicorn."""

from __future__ import annotations

import typer

from cli.output import settings_of


def api(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Address to bind [default: STREAMREC_API_HOST]."),
    port: int | None = typer.Option(None, "--port", help="Port to bind [default: STREAMREC_API_PORT]."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (each with its own pool)."),
    loglevel: str = typer.Option("info", "--loglevel", help="debug, info, warning or error."),
) -> None:
    """Serve GET /api/suggestions/, POST /api/ratings, health, metrics, admin and the page."""
    import uvicorn

    settings = settings_of(ctx)
    _raise_open_files_limit(settings.api_max_concurrency)
    # The factory reads the same STREAMREC_* environment in every worker process.
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level=loglevel.lower(),
        ws="none",
        lifespan="on",
        http="api.server:BoundedHttpTools",  # header timeout and connection cap
        timeout_keep_alive=settings.api_keep_alive_s,
        limit_concurrency=settings.api_max_concurrency + 1,  # +1: the request's own connection
    )


def _raise_open_files_limit(connections: int) -> None:
    """Room for ``connections`` sockets plus the pool's and the log's descriptors."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY
                                                    else min(wanted, hard), hard))
