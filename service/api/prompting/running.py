"""Running one prompt task: read it, build its record through the pipeline, append it.

A task's commands, sent by hand: its read, one read of its batch shared by the batch's tasks
in this process, its endpoint (a run's calls share a read for a while), the hold of its record,
the append, its event (two) and its note on the batch; the task that completes the batch also
ends the batch's tasks and settles it. A run's task ends itself and settles its batch.

Safe to run any number of times, concurrently too: each step is a transition that only one
copy can take (`transitions`), and a copy that loses one catches up with whoever won.
"""

import logging
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from models import BatchStatus, ChatRecord, PromptBatch, PromptTask, TaskStatus
from models.batches import UNFINISHED_BATCH, batch_key
from models.endpoints import endpoint_key
from service.api.chats import recent_chat_records
from service.api.context import require_database
from service.api.endpoints import load_target
from service.api.errors import NotFound
from service.api.prompting.batches import read_task, task_status
from service.api.prompting.local import ProcessBatches, ProcessTargets
from service.api.prompting.settling import (
    finish_alongside,
    finish_task,
    log_batch_status,
    settle_batch,
)
from service.api.prompting.transitions import NOT_APPENDING, hold_record, start_batch
from service.connectors import ConnectorError, connector_class
from service.metrics.recording import timed_endpoint_call
from service.redteam.pipeline import PromptSettings, run_pipeline
from service.redteam.records import is_error_record
from service.tokens import TokenCipher, TokenUnreadable

log = logging.getLogger(__name__)
# A task that waited this long for its endpoint's slot reads its status again before calling.
SLOT_WAIT_RECHECK_S = 0.05


class Limiter(Protocol):
    """Holds calls to one endpoint within its `max_concurrency` and `max_calls_per_second`."""

    def slot(
        self, key: str, max_concurrency: int, max_calls_per_second: int
    ) -> AbstractAsyncContextManager[None]: ...


class RunHooks(Protocol):
    """What a red-teaming run adds to its tasks (`service.api.runs.hooks`), handed in so that
    prompting knows nothing of runs."""

    async def scored(
        self, record: ChatRecord, batch: PromptBatch, runtime: "Runtime"
    ) -> ChatRecord: ...

    async def answered(self, task: PromptTask, batch: PromptBatch) -> None:
        """The task's record is held and not yet appended (so its batch has not ended)."""

    async def batch_settled(self, batch: PromptBatch, status: BatchStatus) -> None:
        """This process gave the batch its final status (exactly one caller does)."""

    async def batch_ended(self, batch: PromptBatch) -> None: ...


@dataclass(frozen=True)
class Runtime:
    """What running a prompt task needs from the process it runs in."""

    cipher: TokenCipher
    limiter: Limiter
    # Shared by the connectors of this process (`service.connectors.new_http_client`); it also
    # holds where endpoint calls may connect, so every call goes through one.
    http_client: Any
    # None where nothing queues run steps (a bare runtime in tests of prompting alone).
    runs: RunHooks | None = None
    # The batches this process's tasks read, and the handlers here waiting for their end.
    batches: ProcessBatches = field(default_factory=ProcessBatches)
    # The endpoints a run's calls read (a prompt sent by hand reads its endpoint afresh).
    targets: ProcessTargets = field(default_factory=ProcessTargets)


async def run_prompt_task(task_id: str, runtime: Runtime) -> TaskStatus | None:
    """Run one task to its end; safe to call any number of times for the same task.

    Returns the task's status afterwards (None for a task that does not exist).
    """
    require_database()
    # Read, not claimed: a copy of a task that runs twice (a redelivery, a worker that died)
    # may call its endpoint again either way, and the hold lets only one copy's record in, so
    # a claim would be one more write on every call for nothing. A task is deleted with its
    # session; one deleted meanwhile takes the task along and the hold fails.
    task = await read_task(task_id)
    if task is None:
        log.warning("Prompt task %s does not exist; nothing to run.", task_id)
        return None
    if task.status not in NOT_APPENDING:
        return await _left_queued(task, runtime)
    key = batch_key(task.workspace, task.batch_id)
    batch = await runtime.batches.read(key, partial(_started_batch, task))
    if batch is None:
        return await _catch_up(task_id, runtime)
    record = await _build_record(task, batch, runtime)
    if record is None:
        return await _catch_up(task_id, runtime)
    if batch.run_id and runtime.runs is not None:
        # Scored before it is held, so the record is appended once, with its verdict.
        record = await runtime.runs.scored(record, batch, runtime)
    # Each record notes who sent the prompt: several users share a workspace's sessions.
    document = record.model_copy(update={"sent_by": batch.created_by}).document()
    error = record.predicted_result if is_error_record(document) else ""
    if not await hold_record(task_id, document, error):
        # Cancelled meanwhile, or another copy of the task got there first.
        return await _catch_up(task_id, runtime)
    return await _finished(task.model_copy(update={"record": document}), batch, runtime)


async def _started_batch(task: PromptTask) -> PromptBatch | None:
    """The task's batch, read once per process for all its tasks; the read of a prompt sent by
    hand also moves the batch from queued to running, and whoever moves it says so.

    A run's batches skip that: their run says it runs. "running" is a passing state, so only
    the one move is told (the final status is logged even by a process that died after setting
    it, `set_batch_status`).
    """
    key = batch_key(task.workspace, task.batch_id)
    if not task.run_id:
        started = await start_batch(key)
        if started is not None:
            await log_batch_status(started, BatchStatus.RUNNING)
            return started
    return await PromptBatch.get(key)


async def _left_queued(task: PromptTask, runtime: Runtime) -> TaskStatus:
    """A task that ended, or was left appending."""
    batch = await PromptBatch.get(batch_key(task.workspace, task.batch_id))
    if batch is None:
        return task.status
    if task.status is TaskStatus.APPENDING:
        return await _finished(task, batch, runtime)
    # Its process may have died between ending the task and settling the batch, or
    # between settling it and telling its run.
    if batch.status in UNFINISHED_BATCH and not await settle_batch(batch):
        return task.status
    await _ended(batch, runtime)
    return task.status


async def _catch_up(task_id: str, runtime: Runtime) -> TaskStatus | None:
    task = await read_task(task_id)
    if task is None:
        return None
    if task.status is TaskStatus.APPENDING:
        batch = await PromptBatch.get(batch_key(task.workspace, task.batch_id))
        if batch is not None:
            return await _finished(task, batch, runtime)
    return task.status


async def _finished(task: PromptTask, batch: PromptBatch, runtime: Runtime) -> TaskStatus:
    """Append the held record and end the task; a run hears of the answer before (so that
    what it decides holds before the batch can end) and of the batch's end after (each safe
    twice)."""
    if not batch.run_id:
        if await finish_alongside(task, batch):
            await _ended(batch, runtime)
        return TaskStatus.DONE
    # A run settles its batches itself too (`service.api.runs`): its tasks end one by one.
    if runtime.runs is not None:
        await runtime.runs.answered(task, batch)
    await finish_task(task, batch, settle=False)
    moved_here = False

    async def settled(batch: PromptBatch, status: BatchStatus) -> None:
        nonlocal moved_here
        moved_here = True
        if runtime.runs is not None:
            await runtime.runs.batch_settled(batch, status)

    # Tasks ending side by side each settle the batch, and several may find it settled; the
    # one that moved it tells the run, so a batch queues one step of its run, not several
    # that would only queue behind each other. (A process that dies before telling it leaves
    # the task unacknowledged: its next copy tells the run, `_left_queued`.)
    ended = await settle_batch(batch, relog=False, settled=settled)
    if moved_here:
        await _ended(batch, runtime)
    elif ended:
        runtime.batches.ended(batch.id)
    return TaskStatus.DONE


async def _ended(batch: PromptBatch, runtime: Runtime) -> None:
    """The batch has its final status: tell the handlers of this process waiting for it, and
    its run."""
    runtime.batches.ended(batch.id)
    if batch.run_id and runtime.runs is not None:
        await runtime.runs.batch_ended(batch)


async def _build_record(
    task: PromptTask, batch: PromptBatch, runtime: Runtime
) -> ChatRecord | None:
    """The task's chat record, or None when the task stopped running before the call."""
    workspace, endpoint = task.workspace, task.endpoint
    settings = PromptSettings(**batch.prompt_settings)
    # The endpoint's own history, for the context strategy: the pipeline only reads it.
    recent_records = partial(recent_chat_records, task.session_id, endpoint, workspace=workspace)
    read = partial(load_target, endpoint, runtime.cipher, workspace=workspace)
    try:
        document, target = await (
            runtime.targets.read(workspace, endpoint, read) if batch.run_id else read()
        )
        connector = connector_class(document.connector_type)
        if connector is None:
            raise ConnectorError(f"connector type {document.connector_type} does not exist")
    except (NotFound, TokenUnreadable, ConnectorError) as error:
        cause = "it does not exist in the workspace" if isinstance(error, NotFound) else str(error)

        async def unreachable(prepared: str, system_prompt: str) -> str:
            raise ConnectorError(cause)

        return await run_pipeline(
            task.chat_record_id, batch.user_prompt, settings, endpoint, unreachable,
            recent_records,
        )
    asked_at = time.monotonic()
    async with runtime.limiter.slot(
        endpoint_key(workspace, endpoint), document.max_concurrency, document.max_calls_per_second
    ):
        # Waiting for a slot can take long: a task cancelled meanwhile does not call at all.
        # A slot given at once needs no second look (the hold refuses a cancelled task's
        # record all the same).
        waited = time.monotonic() - asked_at >= SLOT_WAIT_RECHECK_S
        if waited and await task_status(task.id) not in NOT_APPENDING:
            return None

        async def call(prepared: str, system_prompt: str) -> str:
            # Made inside the pipeline, so even a connector that fails to start is a record.
            async with connector(target, http_client=runtime.http_client) as client:
                return await timed_endpoint_call(endpoint, client.predict(prepared, system_prompt))

        return await run_pipeline(
            task.chat_record_id, batch.user_prompt, settings, endpoint, call, recent_records
        )
