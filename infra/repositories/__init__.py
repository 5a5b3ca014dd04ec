"""All of streamrec's SQL: one module per table family, set-based, asyncpg."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
import numpy as np
import numpy.typing as npt
from asyncpg.pool import PoolConnectionProxy

# A plain connection or one acquired from a pool: repositories take either.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

Ids: TypeAlias = "npt.NDArray[np.int64]"


def packed(column: str, order_by: str = "") -> str:
    """SQL aggregating an integer ``column`` into one bytea of big-endian int4s, which
    :func:`unpacked` reads as an array without a Python object per id (an int[] comes
    back as a list of ints: decoding it cost more than reading the rows)."""
    order = f" ORDER BY {order_by}" if order_by else ""
    return f"coalesce(string_agg(int4send({column}), ''::bytea{order}), '')"


def unpacked(value: bytes) -> Ids:
    return np.frombuffer(value, dtype=">i4").astype(np.int64)


def no_ids() -> Ids:
    return np.zeros(0, dtype=np.int64)
