"""``model_artifacts``: versions' artifact bytes in Postgres, where every host reads them.

The trainer writes a version's bytes in the transaction that records its
``model_versions`` row, so a recorded version has them; pruning drops the bytes of
old versions (their rows stay, as history) but never those of the active version or
the one a rollback would activate.
"""

from __future__ import annotations

from infra.repositories import Connection

PART_BYTES = 8 << 20  # one row's bytea: far below the 1 GB limit, a bounded buffer each


async def write(conn: Connection, version: str, data: bytes) -> None:
    """Store ``data`` as ``version``'s artifact (in parts, by COPY)."""
    view = memoryview(data)
    parts = ((version, number, view[start:start + PART_BYTES].tobytes())
             for number, start in enumerate(range(0, max(len(data), 1), PART_BYTES)))
    await conn.copy_records_to_table("model_artifacts", records=parts,
                                     columns=("version_name", "part", "data"))


async def read(conn: Connection, version: str) -> bytes | None:
    """``version``'s artifact bytes, or None when Postgres holds none for it."""
    rows = await conn.fetch(
        "SELECT data FROM model_artifacts WHERE version_name = $1 ORDER BY part", version)
    return b"".join(row["data"] for row in rows) if rows else None


async def sizes(conn: Connection) -> dict[str, int]:
    """Bytes stored per version (versions without any are absent)."""
    rows = await conn.fetch(
        "SELECT version_name, sum(octet_length(data))::bigint AS size FROM model_artifacts "
        "GROUP BY version_name")
    return {row["version_name"]: int(row["size"]) for row in rows}


async def prune(conn: Connection, keep: int) -> list[str]:
    """Drop the bytes of all but the ``keep`` newest versions, sparing the active one
    and the previously active one (a rollback's target). Returns the versions pruned."""
    rows = await conn.fetch(
        """
        WITH spared AS (
            (SELECT version_name FROM model_versions ORDER BY created_at DESC, version_name DESC
             LIMIT $1)
            UNION (SELECT version_name FROM model_versions WHERE is_active)
            UNION (SELECT version_name FROM model_versions
                   WHERE NOT is_active AND activated_at IS NOT NULL
                   ORDER BY activated_at DESC LIMIT 1)
        ), deleted AS (
            DELETE FROM model_artifacts WHERE version_name NOT IN (SELECT version_name FROM spared)
            RETURNING version_name
        )
        SELECT DISTINCT version_name FROM deleted
        """, keep)
    return sorted(row["version_name"] for row in rows)
