"""Postgres access: schema migrations and the asyncpg connection pool."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import psycopg
from psycopg import sql as psycopg_sql
from yoyo import get_backend, read_migrations

from infra.errors import ServiceUnavailable
from infra.settings import Settings
from schemas.errors import StreamrecError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

UNREACHABLE_HINT = "start the local stack with `streamrec stack up` or set STREAMREC_DATABASE_URL"


def migrate(database_url: str) -> list[str]:
    """Apply the migrations not yet applied, under yoyo's lock; returns their ids."""
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "postgres://", "postgresql+psycopg://", 1
    )
    try:
        backend = get_backend(url)
    except Exception as err:  # yoyo wraps the driver's connection errors variously
        raise ServiceUnavailable(
            f"cannot reach Postgres at {redact(database_url)}: {err}", hint=UNREACHABLE_HINT
        ) from err
    try:
        migrations = read_migrations(str(MIGRATIONS))
        with backend.lock():
            pending = backend.to_apply(migrations)
            try:
                backend.apply_migrations(pending)
            except Exception as err:  # the driver's error for the failing statement
                raise StreamrecError(
                    f"a schema migration failed on {redact(database_url)}: {err}".rstrip(),
                    hint="the database was changed outside streamrec's migrations; `streamrec db "
                         "migrate` applies each in a transaction, so fix the object named above "
                         "(or use a fresh database) and run it again",
                ) from err
        return [m.id for m in pending]
    finally:
        backend.connection.close()  # yoyo leaves its connection open otherwise


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A pool reset that sends nothing (see ``reset_sessions``)."""


async def create_pool(
    settings: Settings, *, database_url: str | None = None, reset_sessions: bool = True,
    command_timeout_s: float | None = None, connect_timeout_s: float = 10.0,
) -> asyncpg.Pool:
    """The process's pool; :class:`ServiceUnavailable` when Postgres cannot be reached.

    ``reset_sessions=False`` skips asyncpg's reset query when a connection goes back to
    the pool: one round trip less per request, for callers that never change session
    state (the API's read path). ``command_timeout_s`` bounds every query, so a
    connection to a frozen server fails (``TimeoutError``) instead of hanging.
    """
    url = database_url or settings.database_url
    try:
        pool = await asyncpg.create_pool(
            url, min_size=settings.db_pool_min, max_size=settings.db_pool_max, timeout=connect_timeout_s,
            reset=None if reset_sessions else _keep_session, command_timeout=command_timeout_s,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        raise ServiceUnavailable(
            f"cannot reach Postgres at {redact(url)}: {err}", hint=UNREACHABLE_HINT
        ) from err
    assert pool is not None
    return pool


async def ping(settings: Settings, timeout_s: float = 5.0) -> None:
    """Postgres takes a connection and answers a query; else :class:`ServiceUnavailable`."""
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=timeout_s)
        try:
            await conn.fetchval("SELECT 1", timeout=timeout_s)
        finally:
            await conn.close(timeout=timeout_s)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
        raise ServiceUnavailable(
            f"cannot reach Postgres at {redact(settings.database_url)}: {err}", hint=UNREACHABLE_HINT
        ) from err


def drop_database(admin_url: str, name: str, *, attempts: int = 5) -> None:
    """``DROP DATABASE name WITH (FORCE)`` (tests' and benchmarks' throw-away databases).

    FORCE terminates the database's other backends, and fails when one is not ours to
    terminate: an autovacuum worker (busy for minutes after a load of millions of rows),
    or a backend that is just ending. Then our own sessions are ended and a plain DROP
    is tried, which stops autovacuum workers itself; both are tried again after a pause."""
    ident = psycopg_sql.Identifier(name)
    force = psycopg_sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident)
    plain = psycopg_sql.SQL("DROP DATABASE IF EXISTS {}").format(ident)
    for attempt in range(attempts):
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                try:
                    conn.execute(force)
                except psycopg.errors.InsufficientPrivilege:
                    conn.execute(_END_OWN_SESSIONS, (name,))
                    conn.execute(plain)
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


_END_OWN_SESSIONS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = %s AND pid <> pg_backend_pid() AND usename = current_user
  AND backend_type = 'client backend'
"""


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not at or ":" not in auth:
        return url
    return f"{scheme}{sep}{auth.split(':', 1)[0]}:***@{host}"
