"""Running one prompt task: claim it, build its record through the pipeline, append it.

Safe to run any number of times, concurrently too: each step is a transition that only one
copy can take (`transitions`), and a copy that loses one catches up with whoever won.
"""

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from models import BatchStatus, ChatRecord, PromptBatch, PromptTask, TaskStatus
from models.batches import UNFINISHED_BATCH, batch_key
from models.endpoints import endpoint_key
from service.api.chats import recent_chat_records
from service.api.context import require_database
from service.api.endpoints import load_target
from service.api.errors import NotFound
from service.api.prompting.batches import task_status
from service.api.prompting.settling import (
    cancel_batch_tasks,
    finish_task,
    log_batch_status,
    settle_batch,
)
from service.api.prompting.transitions import claim_task, hold_record, move_batch
from service.api.sessions.store import find_session
from service.connectors import ConnectorError, connector_class
from service.redteam.pipeline import PromptSettings, run_pipeline
from service.redteam.records import is_error_record
from service.tokens import TokenCipher, TokenUnreadable

log = logging.getLogger(__name__)


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


async def run_prompt_task(task_id: str, runtime: Runtime) -> TaskStatus | None:
    """Run one task to its end; safe to call any number of times for the same task.

    Returns the task's status afterwards (None for a task that does not exist).
    """
    require_database()
    task = await PromptTask.get(task_id)
    if task is None:
        log.warning("Prompt task %s does not exist; nothing to run.", task_id)
        return None
    batch = await PromptBatch.get(batch_key(task.workspace, task.batch_id))
    if batch is None:
        return task.status
    if task.status in (TaskStatus.DONE, TaskStatus.CANCELLED):
        # Its process may have died between ending the task and settling the batch, or
        # between settling it and telling its run.
        ended = batch.status not in UNFINISHED_BATCH or await settle_batch(batch)
        if ended and batch.run_id and runtime.runs is not None:
            await runtime.runs.batch_ended(batch)
        return task.status
    if task.status is TaskStatus.APPENDING:
        return await _finished(task, batch, runtime)
    session = await find_session(task.session_id, task.workspace)
    if session is None or session.created_epoch != batch.session_epoch:
        # The session was deleted (and perhaps made again) since: its prompts are void.
        await cancel_batch_tasks(batch)
        await settle_batch(batch)
        return TaskStatus.CANCELLED
    if not await claim_task(task_id):
        return await _catch_up(task_id, batch, runtime)
    # Only the task that moves it says so: every task of the batch tries, and "running" is a
    # passing state (the final status is logged even by a process that died after setting it,
    # `set_batch_status`). A run's batches skip it: their run says it runs.
    if not batch.run_id and batch.status is BatchStatus.QUEUED and await move_batch(
        batch.id, BatchStatus.RUNNING, from_=(BatchStatus.QUEUED,)
    ):
        await log_batch_status(batch, BatchStatus.RUNNING)
    record = await _build_record(task, batch, runtime)
    if record is None:
        return await _catch_up(task_id, batch, runtime)
    if batch.run_id and runtime.runs is not None:
        # Scored before it is held, so the record is appended once, with its verdict.
        record = await runtime.runs.scored(record, batch, runtime)
    # Each record notes who sent the prompt: several users share a workspace's sessions.
    document = record.model_copy(update={"sent_by": batch.created_by}).document()
    error = record.predicted_result if is_error_record(document) else ""
    if not await hold_record(task_id, document, error):
        # Cancelled meanwhile, or another copy of the task got there first.
        return await _catch_up(task_id, batch, runtime)
    return await _finished(task.model_copy(update={"record": document}), batch, runtime)


async def _catch_up(task_id: str, batch: PromptBatch, runtime: Runtime) -> TaskStatus | None:
    task = await PromptTask.get(task_id)
    if task is None:
        return None
    if task.status is TaskStatus.APPENDING:
        return await _finished(task, batch, runtime)
    return task.status


async def _finished(task: PromptTask, batch: PromptBatch, runtime: Runtime) -> TaskStatus:
    """Append the held record and end the task; a run hears of the answer before (so that
    what it decides holds before the batch can end) and of the batch's end after (each safe
    twice)."""
    hooks = runtime.runs if batch.run_id else None
    if hooks is not None:
        await hooks.answered(task, batch)
    status = await finish_task(task, batch, settle=False)
    if await settle_batch(batch) and hooks is not None:
        await hooks.batch_ended(batch)
    return status


async def _build_record(
    task: PromptTask, batch: PromptBatch, runtime: Runtime
) -> ChatRecord | None:
    """The task's chat record, or None when the task stopped running before the call."""
    workspace, endpoint = task.workspace, task.endpoint
    settings = PromptSettings(**batch.prompt_settings)
    # The endpoint's own history, for the context strategy: the pipeline only reads it.
    recent_records = partial(recent_chat_records, task.session_id, endpoint, workspace=workspace)
    try:
        document, target = await load_target(endpoint, runtime.cipher, workspace=workspace)
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
    async with runtime.limiter.slot(
        endpoint_key(workspace, endpoint), document.max_concurrency, document.max_calls_per_second
    ):
        # Waiting for a slot can take long: a task cancelled meanwhile does not call at all.
        if await task_status(task.id) is not TaskStatus.RUNNING:
            return None

        async def call(prepared: str, system_prompt: str) -> str:
            # Made inside the pipeline, so even a connector that fails to start is a record.
            async with connector(target, http_client=runtime.http_client) as client:
                return await client.predict(prepared, system_prompt)

        return await run_pipeline(
            task.chat_record_id, batch.user_prompt, settings, endpoint, call, recent_records
        )
