"""What scoring a set of users' lists reads, in one statement: the active version, the
catalogue and the users' ratings and hidden movies. The speed layer and the predictor
read it once per round or job: one round trip and one snapshot instead of three."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infra.repositories import Connection, Ids, packed, unpacked
from infra.repositories.models import COLUMNS as MODEL_COLUMNS
from infra.repositories.models import ModelVersion
from infra.repositories.ratings import RATED_AND_HIDDEN, RatedPairsRead

_MODEL = ", ".join(f"v.{column}" for column in MODEL_COLUMNS)

# One statement, so one snapshot: ``rated_from`` (its xmin) bounds what every part saw.
_READ = f"""
WITH {RATED_AND_HIDDEN}, c AS (
    SELECT {packed("id", order_by="id")} AS ids FROM movies
)
SELECT r.users AS rated_users, r.movies AS rated_movies, h.users AS hidden_users,
       h.movies AS hidden_movies, c.ids AS catalogue,
       pg_snapshot_xmin(pg_current_snapshot())::text AS rated_from, {_MODEL}
FROM r CROSS JOIN h CROSS JOIN c LEFT JOIN model_versions v ON v.is_active
"""


@dataclass(frozen=True)
class RerankRead:
    active: ModelVersion | None  # None: no model yet (the cold-start list serves)
    catalogue: Ids  # every movie's id, sorted
    rated: RatedPairsRead


async def rerank_inputs(conn: Connection, user_ids: Sequence[int]) -> RerankRead:
    """The active version, the catalogue and these users' ratings and hidden movies."""
    row = await conn.fetchrow(_READ, list(user_ids))
    assert row is not None  # aggregates always answer one row
    active = (ModelVersion.from_row({column: row[column] for column in MODEL_COLUMNS})
              if row["version_name"] is not None else None)
    rated = RatedPairsRead(unpacked(row["rated_users"]), unpacked(row["rated_movies"]),
                           int(row["rated_from"]), unpacked(row["hidden_users"]),
                           unpacked(row["hidden_movies"]))
    return RerankRead(active, unpacked(row["catalogue"]), rated)
