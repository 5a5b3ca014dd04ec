"""Operator actions on model versions, shared by the CLI and the admin API.

Activating a version changes the one active row, then announces it on
``model-events`` so the fan-out agent recomputes everyone's suggestions with it.
"""

from __future__ import annotations

import asyncpg

from infra.publisher import EventPublisher
from infra.repositories import models as models_repo
from infra.repositories.models import ModelVersion
from schemas.events import ModelPublished


async def _announce(publisher: EventPublisher, version: ModelVersion, decision: str) -> None:
    await publisher.publish_model(ModelPublished(
        version=version.version_name, rmse=version.rmse, mae=version.mae,
        n_ratings=version.n_ratings, activated=True, decision=decision,
    ))


async def activate(pool: asyncpg.Pool, publisher: EventPublisher, version: str) -> ModelVersion:
    """Activate ``version`` (:class:`UnknownModelVersion` lists the known ones)."""
    async with pool.acquire() as conn:
        activated = await models_repo.activate(conn, version)
    await _announce(publisher, activated, "manual activation")
    return activated


async def rollback(pool: asyncpg.Pool, publisher: EventPublisher) -> ModelVersion:
    """Re-activate the previously active version."""
    async with pool.acquire() as conn:
        activated = await models_repo.rollback(conn)
    await _announce(publisher, activated, "rollback")
    return activated
