"""Putting synthetic data into a benchmark's own database.

Movies go through ``infra.repositories.movies.upsert``.  Ratings of a fixture (not
the thing measured) go in with one COPY each for users and ratings: pushing a million
ratings through Kafka first would make every benchmark a slow ingest benchmark.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from infra.repositories import Connection
from infra.repositories import movies as movies_repo
from ml.synthetic import SyntheticData


async def load_movies(conn: Connection, data: SyntheticData) -> int:
    rows = data.movies[["id", "title", "overview", "popularity"]].itertuples(index=False, name=None)
    return await movies_repo.upsert(conn, rows)


def _csv(frame: pd.DataFrame) -> io.BytesIO:
    return io.BytesIO(frame.to_csv(index=False, header=False).encode())


async def load_ratings(conn: Connection, ratings: pd.DataFrame) -> int:
    """Users and ratings by COPY, with event ids ``00…0<row number in hex>``."""
    users = pd.DataFrame({"id": np.unique(ratings["user_id"].to_numpy(np.int64))})
    frame = ratings[["user_id", "movie_id", "rating", "rated_at"]].copy()
    frame["event_id"] = [f"{i:032x}" for i in range(len(frame))]
    async with conn.transaction():
        await conn.copy_to_table("users", source=_csv(users), columns=["id"], format="csv")
        await conn.copy_to_table(
            "ratings", source=_csv(frame),
            columns=["user_id", "movie_id", "rating", "rated_at", "event_id"], format="csv",
        )
    await conn.execute("ANALYZE ratings")
    return len(frame)
