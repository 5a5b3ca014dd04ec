"""Versions' artifacts as every host of a deployment reads them.

Postgres holds each version's bytes (``model_artifacts``, written with its
``model_versions`` row), so a worker or an API on another host serves a version it
did not train. This host's model directory is the cache: the trainer's own files
first, then artifacts read from Postgres before (by digest). Bytes from anywhere are
used only after their sha256 matched the version's recorded one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from infra.repositories import artifacts
from infra.repositories.models import ModelVersion
from ml.errors import ModelIntegrityError
from ml.model_store import ModelBundle, ModelStore, parse_bundle, sha256_hex

log = logging.getLogger(__name__)


class SharedModelStore:
    """Reads versions' artifacts: local files when they match, else Postgres's copy."""

    def __init__(self, local: ModelStore, pool: Callable[[], Awaitable[asyncpg.Pool]]) -> None:
        self.local = local
        self._pool = pool  # the caller's (a worker connects lazily, with retries)

    @classmethod
    def over(cls, local: ModelStore, pool: asyncpg.Pool) -> SharedModelStore:
        """A store reading through a pool that is already open."""
        async def opened() -> asyncpg.Pool:
            return pool
        return cls(local, opened)

    async def read(self, version: ModelVersion) -> bytes:
        """``version``'s verified bytes; :class:`ModelIntegrityError` when no copy matches."""
        name, digest = version.version_name, version.sha256.lower()
        try:
            return await asyncio.to_thread(self.local.read_verified, name, digest)
        except ModelIntegrityError as err:
            local_problem = err
        cached = await asyncio.to_thread(self.local.cached, digest)
        if cached is not None:
            return cached
        pool = await self._pool()
        async with pool.acquire() as conn:
            data = await artifacts.read(conn, name)
        if data is None:
            raise ModelIntegrityError(
                f"{local_problem.message.removeprefix(f'{self.local.npz_path(name)}: ')}, "
                "and Postgres holds no copy of it", path=self.local.npz_path(name))
        actual = await asyncio.to_thread(sha256_hex, data)
        if actual != digest:
            raise ModelIntegrityError(
                f"sha256 mismatch: recorded {digest}, Postgres's copy has {actual} "
                f"({len(data)} bytes; altered)", path=self.local.npz_path(name))
        if self.local.npz_path(name).exists():
            log.warning("model %s: %s; serving Postgres's copy", name, local_problem.message)
        await asyncio.to_thread(self.local.cache, digest, data)
        return data

    async def load_bundle(self, version: ModelVersion) -> ModelBundle:
        """Every model of ``version``, from verified bytes."""
        data = await self.read(version)
        return await asyncio.to_thread(parse_bundle, data, self.local.npz_path(version.version_name))

    async def check(self, version: ModelVersion, shared_bytes: int | None) -> str | None:
        """None when ``version`` can be loaded here (a matching local file or Postgres's
        copy, ``shared_bytes`` long), else what is missing (for ``models list``)."""
        problem = await asyncio.to_thread(self.local.check, version.version_name, version.sha256)
        if problem is None or shared_bytes:
            return None
        if await asyncio.to_thread(self.local.cached, version.sha256.lower()) is not None:
            return None
        return f"{problem}; no copy in Postgres"
