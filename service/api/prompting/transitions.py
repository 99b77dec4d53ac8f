"""The conditional writes of the prompt state machines: each one update by `_id`, in raw PyMongo.

A task moves queued -> appending -> done, or to cancelled (`running`, which earlier versions
set as a worker took a task, counts as queued); a batch from queued or running to its final
status. Every step here is one update whose filter names the status it
leaves, and the caller reads its `modified_count` to learn whether *this* caller took the step:
that is how two copies of a task (a redelivery, a restart) never both append, and how a cancel
that has answered is never followed by an append. Beanie's `save()`/`set()` on a loaded
document would write whatever the document held, whatever the status became meanwhile, so these
stay plain filtered updates, here and nowhere else. Reads and inserts go through the models.
"""

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from models import BatchStatus, PromptBatch, PromptTask, TaskStatus
from models.batches import UNFINISHED_BATCH
from service.api.atomic import update_and_read
from service.api.coalescing import Coalescer

# The steps a task may be run, held or cancelled from: it has not built its record yet.
NOT_APPENDING = (TaskStatus.QUEUED, TaskStatus.RUNNING)


def _values(statuses: Sequence[TaskStatus] | Sequence[BatchStatus]) -> list[str]:
    return [status.value for status in statuses]


async def start_batch(batch_id: str) -> PromptBatch | None:
    """queued -> running (`batch_id` is the batch's `_id`); the batch as it is now, or None when
    it was not queued (or does not exist). The move is also the batch's read."""
    started = await update_and_read(
        PromptBatch.get_pymongo_collection(),
        {"_id": batch_id, "status": BatchStatus.QUEUED.value},
        {"$set": {"status": BatchStatus.RUNNING.value}},
    )
    return None if started is None else PromptBatch.model_validate(started)


async def hold_record(task_id: str, record: dict[str, Any], error: str) -> bool:
    """queued -> appending, keeping the built record on the task; False if it left queued
    (cancelled, or held by another copy of the task).

    From here on the record is stored, so whoever finds the task appending appends it. Copies
    of a task (a redelivery, a worker that died) may all build a record; only one holds its own.
    """
    result = await PromptTask.get_pymongo_collection().update_one(
        {"_id": task_id, "status": {"$in": _values(NOT_APPENDING)}},
        {"$set": {"status": TaskStatus.APPENDING.value, "record": record, "error": error}},
    )
    return bool(result.modified_count)


async def mark_done(task_id: str) -> None:
    """appending -> done, once its record is appended (a no-op for a task already done).

    Tasks of this process ending while others' ends are being written go together in one
    update (`end_appended`).
    """
    await _DONE_WRITES.call(None, task_id)


async def _mark_done_together(_: Hashable, task_ids: Sequence[str]) -> list[None]:
    await end_appended(task_ids)
    return [None] * len(task_ids)


_DONE_WRITES: Coalescer[str, None] = Coalescer(_mark_done_together)


@dataclass(frozen=True)
class Noted:
    """The batch as it was after a note, and whether this caller is the one to act on it."""

    batch: PromptBatch
    # Of the tasks noting one batch together, only the first is told to end it if complete.
    first: bool

    @property
    def completes(self) -> bool:
        """Whether this caller is to end the batch: every endpoint is noted ended."""
        return self.first and set(self.batch.endpoints) <= set(self.batch.ended)


async def note_appended(batch_id: str, endpoint: str) -> Noted | None:
    """Add `endpoint` to the batch's `ended` (`batch_id` is its `_id`); the batch as it is now,
    or None for a batch deleted since.

    Tasks of this process noting one batch while another note of it is on its way (the answers
    of a fan-out arriving together) are noted together: one update, one read.
    """
    return await _BATCH_NOTES.call(batch_id, endpoint)


async def _note_together(batch_id: Hashable, endpoints: Sequence[str]) -> list[Noted | None]:
    noted = await update_and_read(
        PromptBatch.get_pymongo_collection(),
        {"_id": batch_id},
        # Each once: the in-memory tier adds a value twice that `$each` names twice.
        {"$addToSet": {"ended": {"$each": list(dict.fromkeys(endpoints))}}},
    )
    if noted is None:
        return [None] * len(endpoints)
    batch = PromptBatch.model_validate(noted)
    return [Noted(batch, first=index == 0) for index in range(len(endpoints))]


_BATCH_NOTES: Coalescer[str, Noted | None] = Coalescer(_note_together)


async def end_appended(task_ids: Sequence[str]) -> None:
    """appending -> done for those of `task_ids` still appending, in one update: the tasks
    whose records a batch's `ended` says are appended."""
    await PromptTask.get_pymongo_collection().update_many(
        {"_id": {"$in": list(task_ids)}, "status": TaskStatus.APPENDING.value},
        {"$set": {"status": TaskStatus.DONE.value, "finished_at": time.time()}},
    )


async def cancel_tasks(task_ids: Sequence[str]) -> int:
    """queued or running -> cancelled, for those of `task_ids` not yet appending; how many."""
    result = await PromptTask.get_pymongo_collection().update_many(
        {"_id": {"$in": list(task_ids)}, "status": {"$in": _values(NOT_APPENDING)}},
        {"$set": {"status": TaskStatus.CANCELLED.value, "finished_at": time.time()}},
    )
    return result.modified_count


async def move_batch(
    batch_id: str, status: BatchStatus, *, from_: Sequence[BatchStatus]
) -> bool:
    """One of `from_` -> `status` (`batch_id` is the batch's `_id`); False if it was in none.

    A final status also stamps `finished_at`. Callers of this process making the same move
    together (the tasks of a batch that ended side by side) send it once; the first of them
    is the one that made it, if it was made.
    """
    return await _BATCH_MOVES.call((batch_id, status, tuple(from_)), None)


async def _move_once(move: Hashable, callers: Sequence[None]) -> list[bool]:
    batch_id, status, from_ = cast(tuple[str, BatchStatus, tuple[BatchStatus, ...]], move)
    changes: dict[str, Any] = {"status": status.value}
    if status not in UNFINISHED_BATCH:
        changes["finished_at"] = time.time()
    result = await PromptBatch.get_pymongo_collection().update_one(
        {"_id": batch_id, "status": {"$in": _values(from_)}}, {"$set": changes}
    )
    return [bool(result.modified_count)] + [False] * (len(callers) - 1)


_BATCH_MOVES: Coalescer[None, bool] = Coalescer(_move_once)
