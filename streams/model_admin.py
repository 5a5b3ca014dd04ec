"""Operator actions on model versions, shared by the CLI and the admin API.

A version is activated only after its artifact passed the digest check (this host's
file, else Postgres's copy), so a missing, truncated or altered one never becomes the
serving model. Activation changes the one
active row, then announces it on ``model-events`` so the fan-out agent recomputes
everyone's suggestions with it.
"""

from __future__ import annotations

import asyncpg

from infra.repositories import models as models_repo
from infra.repositories.models import ModelVersion, UnknownModelVersion
from infra.shared_models import SharedModelStore
from schemas.events import ModelPublished
from streams.publisher import EventPublisher


async def verify_artifact(store: SharedModelStore, version: ModelVersion) -> None:
    """:class:`ModelIntegrityError` unless an artifact of the version (this host's file or
    Postgres's copy) matches its recorded sha256 and holds its models."""
    await store.load_bundle(version)


async def _activate_verified(
    pool: asyncpg.Pool, publisher: EventPublisher, store: SharedModelStore, candidate: ModelVersion,
    decision: str,
) -> ModelVersion:
    await verify_artifact(store, candidate)
    async with pool.acquire() as conn:
        activated = await models_repo.activate(conn, candidate.version_name)
    await publisher.publish_model(ModelPublished(
        version=activated.version_name, rmse=activated.rmse, mae=activated.mae,
        n_ratings=activated.n_ratings, activated=True, decision=decision,
    ))
    return activated


async def activate(
    pool: asyncpg.Pool, publisher: EventPublisher, store: SharedModelStore, version: str
) -> ModelVersion:
    """Activate ``version`` (:class:`UnknownModelVersion` lists the known ones)."""
    async with pool.acquire() as conn:
        candidate = await models_repo.get(conn, version)
        if candidate is None:
            await models_repo.activate(conn, version)  # raises, listing the known versions
            raise UnknownModelVersion(f"no model version {version!r}")
    return await _activate_verified(pool, publisher, store, candidate, "manual activation")


async def rollback(pool: asyncpg.Pool, publisher: EventPublisher, store: SharedModelStore) -> ModelVersion:
    """Re-activate the previously active version."""
    async with pool.acquire() as conn:
        previous = await models_repo.previous_active(conn)
    if previous is None:
        raise UnknownModelVersion(
            "there is no previously active model version to roll back to",
            hint="list versions with `streamrec models list`",
        )
    return await _activate_verified(pool, publisher, store, previous, "rollback")
