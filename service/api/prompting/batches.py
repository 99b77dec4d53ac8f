"""Reading prompt batches and their tasks: the stored models, and a batch's result so far."""

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from beanie.odm.queries.find import FindMany
from beanie.operators import In
from pydantic import BaseModel, Field

from models import BatchStatus, PromptBatch, PromptTask, TaskStatus
from models.batches import ANSWERED_TASK, UNFINISHED_BATCH, batch_key, task_keys
from service.api.coalescing import Coalescer
from service.api.context import require_database
from service.api.errors import NotFound
from service.api.schemas import DEFAULT_WORKSPACE

# Moonshot's RunStatus names, which its PromptInfo carries as `current_status`.
MOONSHOT_STATUS = {
    BatchStatus.QUEUED: "PENDING",
    BatchStatus.RUNNING: "RUNNING",
    BatchStatus.DONE: "COMPLETED",
    BatchStatus.FAILED: "COMPLETED_WITH_ERRORS",
    BatchStatus.CANCELLED: "CANCELLED",
}
# Without wakes, the wait polls the stored batch: often at first, since most batches end within
# a call's time, then less often, to spare the database.
FIRST_POLL_S = 0.005
LONGEST_POLL_S = 0.05
# With wakes, the batch is still read this often: an end told to no wake (a cancel in another
# process, a lost notice) costs at most this much.
SAFETY_READ_S = 1.0


class TaskId(BaseModel):
    """A task read for its `_id` and status."""

    id: str = Field(alias="_id")
    status: TaskStatus


class TaskPlace(BaseModel):
    """A task read for where it is scheduled: its workspace and session."""

    id: str = Field(alias="_id")
    workspace: str
    session_id: str


class TaskOutcome(BaseModel):
    """A task read for what settling its batch needs."""

    status: TaskStatus
    error: str = ""


class BatchState(BaseModel):
    """A batch read for its status only."""

    status: BatchStatus


class PromptResult(BaseModel):
    """Moonshot's PromptInfo (`current_*`), plus the batch it describes."""

    current_runner_id: str
    current_chats: dict[str, list[dict[str, Any]]]
    current_batch_size: int
    current_status: str
    batch_id: str
    status: BatchStatus

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED_BATCH

    def prompt_info(self) -> dict[str, Any]:
        """Just Moonshot's PromptInfo fields."""
        return self.model_dump(include={
            "current_runner_id", "current_chats", "current_batch_size", "current_status",
        })


def tasks_of(batch: PromptBatch) -> FindMany[PromptTask]:
    """The batch's tasks (a handful: one per endpoint), by their `_id`s, which follow from the
    batch: no index of their own to keep up on every task's every write.

    The embedded server plans a filter with an index only when the index holds every field it
    names, so a status is checked by the caller.
    """
    return PromptTask.find(In(PromptTask.id, task_keys(batch)))


async def read_task(task_id: str) -> PromptTask | None:
    """The stored task (None for one that does not exist); tasks this process starts while
    others are being read are read together, in one query by `_id`."""
    return await _TASK_READS.call(None, task_id)


async def _read_together(_: Hashable, task_ids: Sequence[str]) -> list[PromptTask | None]:
    found = {
        task.id: task for task in await PromptTask.find(In(PromptTask.id, list(task_ids))).to_list()
    }
    return [found.get(task_id) for task_id in task_ids]


_TASK_READS: Coalescer[str, PromptTask | None] = Coalescer(_read_together)


async def task_outcomes(batch: PromptBatch) -> list[TaskOutcome]:
    """The status and error of each of the batch's tasks, as stored after the caller's last
    write: the batch's tasks ending side by side in this process share one read, made after
    the last of them asked."""
    return await _OUTCOME_READS.call(batch.id, batch)


async def _outcomes_once(_: Hashable, batches: Sequence[PromptBatch]) -> list[list[TaskOutcome]]:
    outcomes = await tasks_of(batches[0]).project(TaskOutcome).to_list()
    return [outcomes] * len(batches)


_OUTCOME_READS: Coalescer[PromptBatch, list[TaskOutcome]] = Coalescer(_outcomes_once)


async def task_places(task_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(workspace, session) of each of the tasks that exist, by task id; one query by `_id`."""
    places = PromptTask.find(In(PromptTask.id, list(task_ids))).project(TaskPlace)
    return {place.id: (place.workspace, place.session_id) async for place in places}


async def task_status(task_id: str) -> TaskStatus | None:
    """The task's status as stored now (None for a task that does not exist)."""
    state = await PromptTask.find_one(PromptTask.id == task_id).project(TaskOutcome)
    return None if state is None else state.status


async def batch_status(batch: PromptBatch) -> BatchStatus | None:
    """The batch's status as stored now (None for a batch deleted since)."""
    state = await PromptBatch.find_one(PromptBatch.id == batch.id).project(BatchState)
    return None if state is None else state.status


async def _batch(runner_id: str, batch_id: str, workspace: str) -> PromptBatch:
    require_database()
    batch = await PromptBatch.get(batch_key(workspace, batch_id))
    if batch is None or batch.session_id != runner_id:
        raise NotFound(f"Batch {batch_id} of session {runner_id} does not exist.")
    return batch


async def get_batch(
    runner_id: str, batch_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> PromptResult:
    """The batch's status and the records of it that have landed."""
    return await _result(await _batch(runner_id, batch_id, workspace))


class BatchWakes(Protocol):
    """What tells a waiting handler that its batch may have ended: `pending()`, taken before a
    read, is set once something changed since (`local.BatchEnd`, `notifier.Subscription`)."""

    def pending(self) -> asyncio.Event: ...


# Opens the wakes of a batch: (workspace, session id, the batch's `_id`).
BatchWatch = Callable[[str, str, str], AbstractContextManager[BatchWakes]]


async def wait_for_batch(
    runner_id: str,
    batch_id: str,
    timeout_s: float,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    wakes: BatchWakes | None = None,
    pending: asyncio.Event | None = None,
) -> PromptResult:
    """The batch once it has finished, or as it is after `timeout_s`.

    With `wakes` the batch is read only when woken (and every `SAFETY_READ_S`, for an end no
    wake reaches); `pending`, taken from them before the batch could end, is waited for before
    the first read. Without, the stored batch is polled.
    """
    deadline = time.monotonic() + timeout_s
    if wakes is None:
        return await _polled(runner_id, batch_id, deadline, workspace)
    while True:
        if pending is not None:
            await _until(pending, min(deadline - time.monotonic(), SAFETY_READ_S))
        pending = wakes.pending()
        batch = await _batch(runner_id, batch_id, workspace)
        if batch.status not in UNFINISHED_BATCH or time.monotonic() >= deadline:
            return await _result(batch)


async def _until(pending: asyncio.Event, timeout_s: float) -> None:
    if timeout_s <= 0:
        return
    try:
        async with asyncio.timeout(timeout_s):
            await pending.wait()
    except TimeoutError:
        return


async def _polled(
    runner_id: str, batch_id: str, deadline: float, workspace: str
) -> PromptResult:
    batch = await _batch(runner_id, batch_id, workspace)
    # The batch's status is read from the database, so this works whichever process runs it.
    poll_s = FIRST_POLL_S
    while batch.status in UNFINISHED_BATCH and time.monotonic() < deadline:
        await asyncio.sleep(min(poll_s, max(deadline - time.monotonic(), 0)))
        poll_s = min(poll_s * 1.5, LONGEST_POLL_S)
        batch = await _batch(runner_id, batch_id, workspace)
    return await _result(batch)


async def _result(batch: PromptBatch) -> PromptResult:
    landed: dict[str, list[dict[str, Any]]] = {}
    # A held record lands whatever happens (appended, or by the next copy of its task), and a
    # task whose record is appended may read appending until its batch ends (`finish_alongside`).
    async for task in tasks_of(batch):
        if task.status in ANSWERED_TASK and task.record is not None:
            landed[task.endpoint] = [task.record]
    return PromptResult(
        current_runner_id=batch.session_id,
        current_chats={endpoint: landed[endpoint] for endpoint in batch.endpoints
                       if endpoint in landed},
        current_batch_size=len(batch.endpoints),
        current_status=MOONSHOT_STATUS[batch.status],
        batch_id=batch.batch_id,
        status=batch.status,
    )
