"""Atomic counters: one `$inc` on a counter document, made on first use."""

import contextlib
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from service.api.errors import Conflict

ATTEMPTS = 3


async def increment(
    collection: Any, key: str, field: str, amount: int, on_insert: dict[str, Any]
) -> int:
    """Add `amount` to `field` of the counter `key` (made if missing); returns the new value.

    The `$inc` never upserts: two first increments that both upsert race, and the embedded
    server may then apply one without returning the document, which would leave a value no
    caller knows. So a missing counter is made first, on its own (a duplicate key there means
    another caller made it), and the `$inc` runs only on a counter that exists: no value is
    handed out twice and none is skipped.
    """
    for _ in range(ATTEMPTS):
        counter = await collection.find_one_and_update(
            {"_id": key}, {"$inc": {field: amount}}, return_document=ReturnDocument.AFTER
        )
        if counter is not None:
            return int(counter[field])
        # A duplicate key: another caller made it first, which is all this wanted.
        with contextlib.suppress(DuplicateKeyError):
            await collection.update_one(
                {"_id": key}, {"$setOnInsert": {field: 0, **on_insert}}, upsert=True
            )
    raise Conflict("A counter could not be incremented; try again.")
