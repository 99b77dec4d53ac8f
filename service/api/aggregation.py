"""Aggregation pipelines run the same way on both tiers."""

import inspect
from typing import Any


async def aggregate(collection: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every document `pipeline` yields on `collection` (a raw collection)."""
    cursor: Any = collection.aggregate(pipeline)
    if inspect.isawaitable(cursor):
        # PyMongo's async client opens the cursor with an await; Motor's API (mongomock's
        # tier) hands it back at once.
        cursor = await cursor
    return [document async for document in cursor]
