"""``streamrec suggest USER_ID``: what the API would answer, as a table."""

from __future__ import annotations

import asyncio
import json

import typer

from cli.output import print_json, print_table, settings_of
from infra import db
from infra.repositories import serving
from infra.repositories.serving import Served
from schemas.errors import StreamrecError


def suggest(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., min=1, help="The user's id."),
    limit: int = typer.Option(10, "--limit", min=1, max=serving.LIMIT_MAX, help="How many suggestions."),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON."),
) -> None:
    """A user's suggestions, best first, from the same query as GET /api/suggestions/."""
    settings = settings_of(ctx)

    async def fetch() -> Served:
        pool = await db.create_pool(settings)
        try:
            return await serving.suggestions_for(pool, user_id, limit)
        except Exception as err:  # asyncpg raises several kinds for a missing schema
            raise StreamrecError(f"cannot read suggestions: {err}",
                                 hint="apply the schema with `streamrec db migrate`") from err
        finally:
            await pool.close()

    served = asyncio.run(fetch())
    if as_json:
        print_json(json.loads(served.to_json()))
        return
    print_table(f"user {served.user_id}: {served.source} suggestions (model {served.model_version})",
                ["movie", "title", "score"],
                [(s.id, s.title, f"{s.score:.2f}") for s in served.suggestions])
