"""``model_versions``: recording trained models, activation, rollback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from infra.repositories import Connection
from schemas.errors import StreamrecError


class UnknownModelVersion(StreamrecError):
    """No model version of that name (the message lists the ones that exist)."""


@dataclass(frozen=True)
class ModelVersion:
    version_name: str
    rmse: float
    mae: float
    n_ratings: int
    params: dict[str, Any]
    sha256: str
    path: str
    created_at: datetime
    ratings_through: datetime | None
    is_active: bool
    activated_at: datetime | None
    decision: str
    exported_at: datetime | None
    ndcg_at_10: float | None = None  # of the list, on the held-out split (None: older versions)
    precision_at_10: float | None = None
    baseline_ndcg_at_10: float | None = None  # popularity's, on the same split

    @classmethod
    def from_row(cls, row: asyncpg.Record | dict[str, Any]) -> ModelVersion:
        data = dict(row)
        data["params"] = json.loads(data["params"]) if isinstance(data["params"], str) else data["params"]
        return cls(**data)

    @property
    def engine(self) -> str:
        """What fitted the version (``STREAMREC_TRAIN_ENGINE``; versions before there
        was a choice were fitted locally)."""
        return str(self.params.get("engine") or "local")

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version_name,
            "rmse": self.rmse,
            "mae": self.mae,
            "n_ratings": self.n_ratings,
            "params": self.params,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat(),
            "is_active": self.is_active,
            "activated_at": self.activated_at.isoformat() if self.activated_at else None,
            "decision": self.decision,
            "ndcg_at_10": self.ndcg_at_10,
            "precision_at_10": self.precision_at_10,
            "baseline_ndcg_at_10": self.baseline_ndcg_at_10,
            "engine": self.engine,
        }


COLUMNS = ("version_name", "rmse", "mae", "n_ratings", "params", "sha256", "path", "created_at",
           "ratings_through", "is_active", "activated_at", "decision", "exported_at", "ndcg_at_10",
           "precision_at_10", "baseline_ndcg_at_10")
_COLUMNS = ", ".join(COLUMNS)


async def record(
    conn: Connection,
    *,
    version: str,
    rmse: float,
    mae: float,
    n_ratings: int,
    params: dict[str, Any],
    sha256: str,
    path: str,
    ratings_through: datetime | None,
    exported_at: datetime | None = None,
    decision: str = "",
    ndcg_at_10: float | None = None,
    precision_at_10: float | None = None,
    baseline_ndcg_at_10: float | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO model_versions (version_name, rmse, mae, n_ratings, params, sha256, path, "
        "ratings_through, exported_at, decision, ndcg_at_10, precision_at_10, baseline_ndcg_at_10) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13)",
        version, rmse, mae, n_ratings, json.dumps(params), sha256, path, ratings_through,
        exported_at, decision, ndcg_at_10, precision_at_10, baseline_ndcg_at_10,
    )


async def record_imported(conn: Connection, exported: dict[str, Any], *, source: str) -> None:
    """Record a version exported by another deployment (``ModelVersion.as_json()``), not
    active. Its export time and ratings belong to that deployment, so they are left
    unset: this deployment's retrain requests are not taken as covered by it."""
    await record(
        conn, version=exported["version"], rmse=float(exported["rmse"]), mae=float(exported["mae"]),
        n_ratings=int(exported["n_ratings"]), params=dict(exported.get("params") or {}),
        sha256=str(exported["sha256"]), path=f"imported from {source}", ratings_through=None,
        exported_at=None, decision=f"imported from {source}",
        ndcg_at_10=exported.get("ndcg_at_10"), precision_at_10=exported.get("precision_at_10"),
        baseline_ndcg_at_10=exported.get("baseline_ndcg_at_10"),
    )


async def newest(conn: Connection) -> ModelVersion | None:
    """The most recently trained version, active or not."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM model_versions ORDER BY exported_at DESC NULLS LAST, "
        "created_at DESC LIMIT 1"
    )
    return ModelVersion.from_row(row) if row else None


async def latest_export(conn: Connection) -> datetime | None:
    """When the newest model's training export started: requests before it are covered."""
    value: datetime | None = await conn.fetchval("SELECT max(exported_at) FROM model_versions")
    return value


async def get(conn: Connection, version: str) -> ModelVersion | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM model_versions WHERE version_name = $1", version)
    return ModelVersion.from_row(row) if row else None


async def active(conn: Connection) -> ModelVersion | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM model_versions WHERE is_active")
    return ModelVersion.from_row(row) if row else None


async def list_versions(conn: Connection, limit: int = 100) -> list[ModelVersion]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM model_versions ORDER BY created_at DESC, version_name DESC LIMIT $1",
        limit,
    )
    return [ModelVersion.from_row(row) for row in rows]


async def activate(conn: Connection, version: str) -> ModelVersion:
    """Make ``version`` the one active model, atomically."""
    async with conn.transaction():
        exists = await conn.fetchval(
            "SELECT 1 FROM model_versions WHERE version_name = $1 FOR UPDATE", version
        )
        if not exists:
            names = await conn.fetch(
                "SELECT version_name FROM model_versions ORDER BY created_at DESC LIMIT 20"
            )
            known = ", ".join(row["version_name"] for row in names) or "none yet"
            raise UnknownModelVersion(
                f"no model version {version!r}", hint=f"known versions: {known}"
            )
        await conn.execute(
            "UPDATE model_versions SET is_active = false WHERE is_active AND version_name <> $1",
            version,
        )
        row = await conn.fetchrow(
            "UPDATE model_versions SET is_active = true, "
            "activated_at = CASE WHEN is_active THEN activated_at ELSE now() END "
            f"WHERE version_name = $1 RETURNING {_COLUMNS}",
            version,
        )
    assert row is not None  # locked above
    return ModelVersion.from_row(row)


async def previous_active(conn: Connection) -> ModelVersion | None:
    """The version that was active before the current one (what a rollback activates)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM model_versions WHERE NOT is_active AND activated_at IS NOT NULL "
        "ORDER BY activated_at DESC LIMIT 1"
    )
    return ModelVersion.from_row(row) if row else None
