"""``suggestions``: the predictor's bulk replacement of users' top-K."""

from __future__ import annotations

from collections.abc import Sequence

from infra.repositories import Connection


def _record(row: tuple[int, int, float] | tuple[int, int, float, float], model_version: str,
            made_by: str) -> tuple[int, int, float, float | None, str, str]:
    user_id, movie_id, value, *predicted = row
    return (user_id, movie_id, value, predicted[0] if predicted else None, model_version, made_by)


async def replace_for_users(
    conn: Connection,
    user_ids: Sequence[int],
    rows: Sequence[tuple[int, int, float]] | Sequence[tuple[int, int, float, float]],
    model_version: str,
    *,
    made_by: str = "batch",
) -> int:
    """Replace these users' suggestions by ``rows`` atomically: (user_id, movie_id,
    value) or (user_id, movie_id, value, predicted_rating); ``value`` orders the list.
    ``made_by``: "batch" (a prediction job) or "realtime" (the speed layer).

    Readers see either all old or all new rows of a user, never a mix of versions.
    """
    records = [_record(row, model_version, made_by) for row in rows]
    async with conn.transaction():
        await conn.execute("DELETE FROM suggestions WHERE user_id = ANY($1::int[])", list(user_ids))
        await conn.copy_records_to_table(
            "suggestions",
            records=records,
            columns=["user_id", "movie_id", "value", "predicted_rating", "model_version", "made_by"],
        )
        # A rating stored after this job read the user's ratings still wins.
        await conn.execute(
            "UPDATE suggestions sg SET did_rate = true FROM ratings r "
            "WHERE sg.user_id = ANY($1::int[]) AND r.user_id = ANY($1::int[]) "  # index scans
            "AND r.user_id = sg.user_id AND r.movie_id = sg.movie_id AND NOT sg.did_rate",
            list(user_ids),
        )
    return len(rows)


async def users_served_by(conn: Connection, model_version: str) -> int:
    """How many users have suggestions from ``model_version``."""
    value: int = await conn.fetchval(
        "SELECT count(DISTINCT user_id) FROM suggestions WHERE model_version = $1", model_version
    )
    return value
