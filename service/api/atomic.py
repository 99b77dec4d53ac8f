"""Single-document changes that also read the document, on any server the service runs on.

MongoDB does both in one `findAndModify`. The embedded SecantusDB (0.7.0b3) reads every
document of the collection for each one, so its cost grows with the collection, and prompt
tasks and batches grow without end. There a change is an update by `_id` and a read by `_id`:
two commands of constant cost.

Counters (`service.api.counters`) stay on `findAndModify`: a compare-and-set in its place costs
rounds that grow with the square of the callers racing for one counter (every task of a batch
numbers its event on the session's counter at once), and their collections grow by session.
"""

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

from service.api.context import require_database

DUPLICATE_KEY = 11000


async def update_and_read(
    collection: Any, query: dict[str, Any], update: dict[str, Any]
) -> dict[str, Any] | None:
    """Apply `update` to the document `query` finds (it names the `_id`); the document after,
    or None when `query` matched nothing.

    Without `findAndModify` the read follows the update: it may see a later change as well,
    never an earlier state, which is all the callers need (a claim, a note on a batch).
    """
    if not require_database().find_and_modify_scans:
        return await collection.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
    if not (await collection.update_one(query, update)).matched_count:
        return None
    found: dict[str, Any] | None = await collection.find_one({"_id": query["_id"]})
    return found


def only_duplicates(error: BulkWriteError) -> bool:
    """Whether every write a bulk write failed was refused for a duplicate key."""
    return all(
        failure.get("code") == DUPLICATE_KEY for failure in error.details.get("writeErrors", [])
    )
