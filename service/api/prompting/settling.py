"""Ending prompt tasks and batches: appending a built record, cancelling, the final status.

A batch settles once none of its tasks is left to run: cancelled if any task was, failed if
every task's answer is an error, done otherwise. Every step may run twice (a redelivered task,
a cancel racing a worker) and still says each fact once.
"""

from collections.abc import Awaitable, Callable, Sequence

from beanie.operators import In

from models import BatchStatus, ChatRecord, EventKind, PromptBatch, PromptTask, TaskStatus
from models.batches import UNFINISHED_BATCH, UNFINISHED_TASK, task_key
from service.api.chats import append_chat_record
from service.api.events import log_event
from service.api.filters import where
from service.api.prompting.batches import TaskId, batch_status, task_outcomes, tasks_of
from service.api.prompting.transitions import (
    cancel_tasks,
    end_appended,
    mark_done,
    move_batch,
    note_appended,
)
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.runners import require_session
from service.metrics.recording import batch_status_changed

# Told of a batch and its final status by the one caller whose write gave it that status.
Settled = Callable[[PromptBatch, BatchStatus], Awaitable[None]]


async def cancel_prompts(
    runner_id: str,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    ended: Callable[[str], None] | None = None,
) -> list[str]:
    """Stop the session's unfinished batches; returns their ids.

    When this returns, every task of them is cancelled or has appended its record: a task
    that had already built its record is appended here, and none can start appending later.
    `ended` is told the `_id` of each batch settled here (for handlers waiting for it).
    """
    await require_session(runner_id, workspace=workspace)
    batches = await PromptBatch.find(where(
        PromptBatch.workspace == workspace,
        PromptBatch.session_id == runner_id,
        In(PromptBatch.status, list(UNFINISHED_BATCH)),
    )).to_list()
    for batch in batches:
        await cancel_batch_tasks(batch)
        if await settle_batch(batch) and ended is not None:
            ended(batch.id)
    return [batch.batch_id for batch in batches]


async def cancel_batch_tasks(batch: PromptBatch) -> None:
    """Cancel the batch's tasks that have not built a record; append those that have."""
    task_ids = [task.id for task in await tasks_of(batch).project(TaskId).to_list()]
    await cancel_tasks(task_ids)
    appending = await PromptTask.find(
        where(In(PromptTask.id, task_ids), PromptTask.status == TaskStatus.APPENDING)
    ).to_list()
    for task in appending:
        await finish_task(task, batch, settle=False)


async def finish_task(
    task: PromptTask, batch: PromptBatch, *, settle: bool = True
) -> TaskStatus:
    """Append the task's stored record, log it, mark the task done (each step idempotent)."""
    await append_held(task, batch)
    await mark_done(task.id)
    if settle:
        await settle_batch(batch)
    return TaskStatus.DONE


async def finish_alongside(task: PromptTask, batch: PromptBatch) -> bool:
    """Append the task's stored record and note it on the batch; the task that completes the
    batch's `ended` ends every task noted there and settles the batch. True when the batch has
    its final status.

    The note is one command where ending the task and reading the batch's tasks were two; a
    process that dies before the end leaves the tasks appending, and whichever copy of one
    runs next (recovery, redelivery) appends nothing twice and completes it.
    """
    if task.endpoint not in batch.ended:
        await append_held(task, batch)
    noted = await note_appended(batch.id, task.endpoint)
    if noted is None or not noted.completes:
        return False
    complete = noted.batch
    await end_appended([
        task_key(complete.workspace, complete.batch_id, endpoint) for endpoint in complete.ended
    ])
    # Only the task whose note completed it gets here (a redelivered one logs in `_left_queued`).
    return await settle_batch(complete, relog=False)


async def append_held(task: PromptTask, batch: PromptBatch) -> None:
    """Append the task's stored record and log it (each step idempotent)."""
    record = ChatRecord.model_validate(task.record)
    await append_chat_record(task.session_id, task.endpoint, record, workspace=task.workspace)
    await log_event(
        task.workspace,
        task.session_id,
        batch.session_epoch,
        f"record|{batch.session_epoch}|{task.endpoint}|{record.chat_record_id}",
        EventKind.RECORD,
        batch.batch_id,
        endpoint=task.endpoint,
        chat_record_id=record.chat_record_id,
        task_id=task.id,
    )


async def settle_batch(
    batch: PromptBatch, *, relog: bool = True, settled: Settled | None = None
) -> bool:
    """Give the batch its final status once none of its tasks is left to run; True when it
    has one (set now or before). `settled` is told if this call set it.

    `relog=False` for a caller that knows whoever set the status before it logged it too:
    the tasks of a batch ending side by side, each settling it, where all but one find it set.
    """
    outcomes = await task_outcomes(batch)
    if any(outcome.status in UNFINISHED_TASK for outcome in outcomes):
        return False
    if any(outcome.status is TaskStatus.CANCELLED for outcome in outcomes):
        status = BatchStatus.CANCELLED
    elif outcomes and all(outcome.error for outcome in outcomes):
        status = BatchStatus.FAILED
    else:
        status = BatchStatus.DONE
    await set_batch_status(batch, status, from_=UNFINISHED_BATCH, relog=relog, settled=settled)
    return True


async def set_batch_status(
    batch: PromptBatch,
    status: BatchStatus,
    *,
    from_: Sequence[BatchStatus],
    relog: bool = True,
    settled: Settled | None = None,
) -> None:
    """Move the batch from one of `from_` to `status` and log it; `settled` is told if this
    call moved it."""
    # Log it anyway if the status is already this one: the process that set it may have died
    # before logging (the log keeps each fact once).
    moved = await move_batch(batch.id, status, from_=from_)
    if moved and settled is not None:
        await settled(batch, status)
    if not moved and (not relog or await batch_status(batch) is not status):
        return
    await log_batch_status(batch, status)


async def log_batch_status(batch: PromptBatch, status: BatchStatus) -> None:
    batch_status_changed(status)
    # A run's batches are told through the run's own events and their records: three more
    # events per attack prompt would cost the stream's readers and the database for nothing.
    if batch.run_id:
        return
    await log_event(
        batch.workspace,
        batch.session_id,
        batch.session_epoch,
        f"batch|{batch.batch_id}|{status.value}",
        EventKind.BATCH,
        batch.batch_id,
        status=status.value,
    )
