"""Writing a whole session at once: runner, chat buckets in batches, counters, session last.

Shared by the Moonshot folder import and the import of Sparring's own export. Buckets are
whole documents inserted in batches rather than appended one record at a time, which is what
makes 100,000 records import in seconds.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models import ChatBucket, ChatCounter, Session
from models.keys import bucket_key, counter_key, runner_key
from models.sessions import SessionSettings
from service.api.chats import bucket_of

# Bucket documents per insert: about 8 MB of the benchmark's 2.4 KB records at 100 a bucket,
# well under a server message's 48 MB.
BUCKETS_PER_INSERT = 32


def session_document(
    workspace: str,
    runner_id: str,
    *,
    endpoints: list[str],
    created_epoch: str,
    created_datetime: str,
    settings: SessionSettings,
    runner_name: str,
    description: str,
) -> Session:
    return Session(
        # By its alias: mypy's pydantic plugin knows a two-base model's fields only so.
        _id=runner_key(workspace, runner_id),
        workspace=workspace,
        session_id=runner_id,
        endpoints=list(endpoints),
        created_epoch=created_epoch,
        created_datetime=created_datetime,
        **settings.model_dump(),
        runner_name=runner_name,
        description=description,
    )


@dataclass
class _OpenBucket:
    number: int
    records: list[dict[str, Any]] = field(default_factory=list)


class ChatWriter:
    """Collects stored chat records (dicts as `ChatRecord.document()` makes them) into whole
    bucket documents and inserts them in batches.

    Records of one endpoint must come in increasing id order (endpoints may interleave), so
    each bucket is complete when the next one starts and is inserted exactly once. `finish`
    inserts what is left and sets each endpoint's id counter to its last id, so the next
    prompt's record follows on.
    """

    def __init__(
        self,
        workspace: str,
        runner_id: str,
        bucket_size: int,
        on_insert: Callable[[int], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self.runner_id = runner_id
        self.bucket_size = bucket_size
        self.on_insert = on_insert
        self.written = 0
        self.last_ids: dict[str, int] = {}
        self._open: dict[str, _OpenBucket] = {}
        self._pending: list[dict[str, Any]] = []

    async def add(self, record: dict[str, Any]) -> None:
        endpoint = record["conn_id"]
        number = bucket_of(record["chat_record_id"], self.bucket_size)
        bucket = self._open.get(endpoint)
        if bucket is None or bucket.number != number:
            if bucket is not None:
                await self._close(endpoint, bucket)
            bucket = self._open[endpoint] = _OpenBucket(number)
        bucket.records.append(record)
        self.last_ids[endpoint] = record["chat_record_id"]

    async def finish(self) -> int:
        """Insert the rest and set the counters; the number of records written."""
        for endpoint, bucket in list(self._open.items()):
            await self._close(endpoint, bucket)
        self._open.clear()
        await self._flush()
        counters = ChatCounter.get_pymongo_collection()
        for endpoint, last_id in self.last_ids.items():
            await counters.update_one(
                {"_id": counter_key(self.workspace, self.runner_id, endpoint)},
                {"$set": {"workspace": self.workspace, "session_id": self.runner_id,
                          "endpoint": endpoint, "last_id": last_id}},
                upsert=True,
            )
        return self.written

    async def _close(self, endpoint: str, bucket: _OpenBucket) -> None:
        self._pending.append({
            "_id": bucket_key(self.workspace, self.runner_id, endpoint, bucket.number),
            "workspace": self.workspace,
            "session_id": self.runner_id,
            "endpoint": endpoint,
            "bucket_no": bucket.number,
            "records": bucket.records,
        })
        if len(self._pending) >= BUCKETS_PER_INSERT:
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        await ChatBucket.get_pymongo_collection().insert_many(self._pending, ordered=True)
        count = sum(len(bucket["records"]) for bucket in self._pending)
        self.written += count
        self._pending = []
        if self.on_insert is not None:
            self.on_insert(count)
