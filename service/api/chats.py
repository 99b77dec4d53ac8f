"""Chat history of a session: reserving record ids, idempotent appends, paginated reads."""

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import ConnectionFailure, DuplicateKeyError
from pymongo.results import UpdateResult

from models import ChatBucket, ChatCounter, ChatRecord
from models.keys import bucket_key, counter_key
from service.api.context import require_database
from service.api.counters import increment
from service.api.errors import InvalidInput
from service.api.schemas import DEFAULT_WORKSPACE

# Buckets read by one command when no page size says how many are needed.
BUCKETS_PER_READ = 10


# Records per batch of a full read: the driver otherwise fills each batch up to 16 MB, so
# a read's memory grew with the history until it passed that; a bounded batch keeps a full
# read (an export, the chats route) as flat at a million records as at a thousand.
FULL_READ_BATCH_RECORDS = 1000


def bucket_of(chat_record_id: int, bucket_size: int) -> int:
    return chat_record_id // bucket_size


async def reserve_chat_record_ids(
    runner_id: str, endpoint: str, count: int = 1, *, workspace: str = DEFAULT_WORKSPACE
) -> list[int]:
    """Hand out the next `count` record ids of (session, endpoint) with one atomic `$inc`.

    A task gets its id when it is created, so a retried or redelivered task appends the same
    record again, which `append_chat_records` turns into a no-op.
    """
    if count < 1:
        raise InvalidInput("count must be at least 1.", field="count")
    require_database()
    last_id = await increment(
        ChatCounter.get_pymongo_collection(),
        counter_key(workspace, runner_id, endpoint),
        "last_id",
        count,
        {"workspace": workspace, "session_id": runner_id, "endpoint": endpoint},
    )
    return list(range(last_id - count + 1, last_id + 1))


async def reserve_chat_record_id(
    runner_id: str, endpoint: str, *, workspace: str = DEFAULT_WORKSPACE
) -> int:
    """The next record id of (session, endpoint)."""
    (chat_record_id,) = await reserve_chat_record_ids(runner_id, endpoint, 1, workspace=workspace)
    return chat_record_id


async def append_chat_records(
    runner_id: str,
    endpoint: str,
    records: Sequence[ChatRecord],
    *,
    workspace: str = DEFAULT_WORKSPACE,
) -> int:
    """Store records whose ids were reserved, one update per bucket; returns how many were new.

    Each update is addressed by the bucket's `_id` and pushes only ids not yet in it, so
    appending a record twice stores it once, even when its bucket filled in between.
    """
    bucket_size = require_database().bucket_size
    by_bucket: dict[int, dict[int, ChatRecord]] = {}
    for record in records:
        if record.conn_id != endpoint:
            raise InvalidInput(
                f"Record {record.chat_record_id} belongs to {record.conn_id!r}, not {endpoint!r}.",
                field="conn_id",
            )
        by_bucket.setdefault(bucket_of(record.chat_record_id, bucket_size), {})[
            record.chat_record_id
        ] = record
    stored = 0
    for bucket_no, bucket_records in sorted(by_bucket.items()):
        stored += await _append_to_bucket(
            workspace, runner_id, endpoint, bucket_no, list(bucket_records.values())
        )
    return stored


async def append_chat_record(
    runner_id: str, endpoint: str, record: ChatRecord, *, workspace: str = DEFAULT_WORKSPACE
) -> bool:
    """Store one record; False when a record with its id was already there."""
    return bool(await append_chat_records(runner_id, endpoint, [record], workspace=workspace))


async def _update_bucket(
    collection: Any, bucket_filter: dict[str, Any], update: dict[str, Any], *, upsert: bool
) -> UpdateResult:
    """One update of the bucket `bucket_filter` addresses by `_id`, re-sent once after a
    transient failure.

    The embedded server's writes are not retryable (`service.embedded.CLIENT_OPTIONS`: it scans
    its record of recent retryable writes on each one), so the re-send here does what the
    driver's retry would; the filter refuses an id the bucket holds, so a re-sent append is a
    no-op. (A single-document update: SecantusDB runs `update_many` through a slower path
    built for large matched sets.)
    """
    try:
        return await collection.update_one(bucket_filter, update, upsert=upsert)
    except ConnectionFailure:
        return await collection.update_one(bucket_filter, update, upsert=upsert)


async def _append_to_bucket(
    workspace: str, runner_id: str, endpoint: str, bucket_no: int, records: list[ChatRecord]
) -> int:
    collection = ChatBucket.get_pymongo_collection()
    bucket_id = bucket_key(workspace, runner_id, endpoint, bucket_no)
    ids = [record.chat_record_id for record in records]
    if len(records) == 1:
        # The common case, one update with no read: the filter itself refuses a duplicate.
        push = {"$push": {"records": records[0].document()}}
        new_filter: dict[str, Any] = {"_id": bucket_id, "records.chat_record_id": {"$ne": ids[0]}}
        try:
            result = await _update_bucket(
                collection,
                new_filter,
                {**push, "$setOnInsert": _bucket_fields(workspace, runner_id, endpoint, bucket_no)},
                upsert=True,
            )
        except DuplicateKeyError:
            # The bucket exists: either it holds the id already, or a concurrent append created
            # it first. Without upsert, the same filter tells the two apart.
            result = await _update_bucket(collection, new_filter, push, upsert=False)
            return result.modified_count
        return 1 if (result.upserted_id is not None or result.modified_count) else 0
    # Several records for one bucket: skip the ids it already holds, then push the rest at once.
    existing = await collection.find_one({"_id": bucket_id}, {"records.chat_record_id": 1})
    present = {r["chat_record_id"] for r in (existing or {}).get("records", [])}
    fresh = [record for record in records if record.chat_record_id not in present]
    if not fresh:
        return 0
    fresh_ids = [record.chat_record_id for record in fresh]
    push = {"$push": {"records": {"$each": [record.document() for record in fresh]}}}
    batch_filter = {"_id": bucket_id, "records.chat_record_id": {"$nin": fresh_ids}}
    try:
        result = await _update_bucket(
            collection,
            batch_filter,
            {**push, "$setOnInsert": _bucket_fields(workspace, runner_id, endpoint, bucket_no)},
            upsert=True,
        )
    except DuplicateKeyError:
        # Someone appended some of these in between: fall back to one-by-one, each idempotent.
        stored = 0
        for record in fresh:
            stored += await _append_to_bucket(workspace, runner_id, endpoint, bucket_no, [record])
        return stored
    return len(fresh) if (result.upserted_id is not None or result.modified_count) else 0


def _bucket_fields(workspace: str, runner_id: str, endpoint: str, bucket_no: int) -> dict:
    return {
        "workspace": workspace,
        "session_id": runner_id,
        "endpoint": endpoint,
        "bucket_no": bucket_no,
    }


async def iter_chat_records(
    runner_id: str,
    endpoint: str,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    after: int = 0,
    limit: int | None = None,
    newest_first: bool = False,
) -> AsyncIterator[dict]:
    """Yield the records of one endpoint in id order (or newest first), bucket by bucket.

    A page (`limit`) reads only the buckets it needs, each by `_id`, so its cost does not grow
    with the history; a full read streams every bucket with one indexed query.
    """
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1.", field="limit")
    if after < 0:
        raise InvalidInput("cursor must be 0 or more.", field="cursor")
    bucket_size = require_database().bucket_size
    if limit is None and not newest_first:
        buckets = _all_buckets(
            workspace, runner_id, endpoint, bucket_of(after, bucket_size),
            max(1, FULL_READ_BATCH_RECORDS // bucket_size),
        )
    else:
        buckets = _buckets_by_id(
            workspace, runner_id, endpoint, after, bucket_size, newest_first, limit
        )
    remaining = limit
    async for bucket_records in buckets:
        records = sorted(bucket_records, key=_record_id, reverse=newest_first)
        for record in records:
            if not newest_first and record["chat_record_id"] <= after:
                continue
            yield record
            if remaining is not None:
                remaining -= 1
                if remaining == 0:
                    await buckets.aclose()
                    return


async def recent_chat_records(
    runner_id: str, endpoint: str, count: int, *, workspace: str = DEFAULT_WORKSPACE
) -> list[dict]:
    """The endpoint's newest `count` records, newest first; reads only the newest bucket(s).

    What the prompt pipeline is handed as the history its context strategy reads.
    """
    return [
        record
        async for record in iter_chat_records(
            runner_id, endpoint, workspace=workspace, newest_first=True, limit=count
        )
    ]


def _record_id(record: dict) -> int:
    return record["chat_record_id"]


async def _all_buckets(
    workspace: str, runner_id: str, endpoint: str, first_bucket: int, batch_size: int
) -> AsyncGenerator[list[dict], None]:
    query: dict[str, Any] = {"workspace": workspace, "session_id": runner_id, "endpoint": endpoint}
    if first_bucket:
        query["bucket_no"] = {"$gte": first_bucket}
    # No projection: copying each document to project it costs the server more than sending it.
    cursor = ChatBucket.get_pymongo_collection().find(
        query, sort=[("bucket_no", ASCENDING)], batch_size=batch_size
    )
    async for bucket in cursor:
        yield bucket["records"]


async def _buckets_by_id(
    workspace: str,
    runner_id: str,
    endpoint: str,
    after: int,
    bucket_size: int,
    newest_first: bool,
    limit: int | None,
) -> AsyncGenerator[list[dict], None]:
    """Walk bucket numbers from the cursor (or back from the newest), reading them by `_id`
    a chunk at a time: one `find` with `$in` per chunk, so a page costs the same few commands
    whatever the bucket size and however long the history."""
    counter = await ChatCounter.get_pymongo_collection().find_one(
        {"_id": counter_key(workspace, runner_id, endpoint)}, {"last_id": 1}
    )
    if counter is None:
        return
    last_bucket = bucket_of(counter["last_id"], bucket_size)
    if newest_first:
        numbers: Sequence[int] = range(last_bucket, -1, -1)
    else:
        numbers = range(bucket_of(after, bucket_size), last_bucket + 1)
    # Enough buckets for the page (one more for a partly filled first one); later chunks only
    # where reserved ids were cancelled and left holes.
    chunk = BUCKETS_PER_READ if limit is None else -(-limit // bucket_size) + 1
    collection = ChatBucket.get_pymongo_collection()
    for start in range(0, len(numbers), chunk):
        keys = [
            bucket_key(workspace, runner_id, endpoint, bucket_no)
            for bucket_no in numbers[start:start + chunk]
        ]
        found = {
            bucket["_id"]: bucket["records"]
            async for bucket in collection.find({"_id": {"$in": keys}}, {"records": 1})
        }
        for key in keys:
            # A bucket may be missing where every reserved id in it was cancelled.
            if key in found:
                yield found[key]
