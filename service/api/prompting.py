"""Sending a prompt to every endpoint of a session: batches, their tasks, cancel and recovery.

A batch and one task per endpoint (its chat record id reserved) are stored before anything is
queued. A task moves queued -> running -> appending -> done, or to cancelled, each step one
update by `_id` that names the step it leaves, so two copies of a task (a redelivery, a
restart) never both append, and a cancel that has answered is never followed by an append.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field, validate_call

from models import (
    BatchStatus,
    ChatRecord,
    EventKind,
    PromptBatch,
    PromptTask,
    RegistryKind,
    TaskStatus,
)
from models.batches import UNFINISHED_BATCH, UNFINISHED_TASK, batch_key, task_key
from models.endpoints import endpoint_key
from service.api.chats import append_chat_record, reserve_chat_record_id
from service.api.context import require_database
from service.api.endpoints import load_target
from service.api.errors import InvalidInput, NotFound
from service.api.events import log_event
from service.api.registries import find_entry
from service.api.runners import require_session
from service.api.schemas import DEFAULT_WORKSPACE, SessionMetadata
from service.api.sessions import find_session
from service.api.transactions import in_transaction
from service.connectors import ConnectorError, connector_class
from service.redteam.pipeline import PromptSettings, run_pipeline
from service.redteam.records import is_error_record
from service.tokens import TokenCipher, TokenUnreadable

log = logging.getLogger(__name__)

# Moonshot's RunStatus names, which its PromptInfo carries as `current_status`.
MOONSHOT_STATUS = {
    BatchStatus.QUEUED: "PENDING",
    BatchStatus.RUNNING: "RUNNING",
    BatchStatus.DONE: "COMPLETED",
    BatchStatus.FAILED: "COMPLETED_WITH_ERRORS",
    BatchStatus.CANCELLED: "CANCELLED",
}
DEFAULT_HISTORY_LENGTH = 10
# The wait polls the stored batch, so it works whichever process runs the tasks: often at first,
# since most batches end within a call's time, then less often, to spare the database.
FIRST_POLL_S = 0.005
LONGEST_POLL_S = 0.05

Enqueue = Callable[[Sequence[str]], Awaitable[None]]


class Limiter(Protocol):
    """Holds calls to one endpoint within its `max_concurrency` and `max_calls_per_second`."""

    def slot(
        self, key: str, max_concurrency: int, max_calls_per_second: int
    ) -> AbstractAsyncContextManager[None]: ...


@dataclass(frozen=True)
class Runtime:
    """What running a prompt task needs from the process it runs in."""

    cipher: TokenCipher
    limiter: Limiter
    # Shared by the connectors of this process (`service.connectors.new_http_client`); it also
    # holds where endpoint calls may connect, so every call goes through one.
    http_client: Any


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


async def _prompt_settings(session: SessionMetadata, workspace: str) -> dict[str, Any]:
    template_source = ""
    if session.prompt_template:
        entry = await find_entry(
            RegistryKind.PROMPT_TEMPLATE, session.prompt_template, workspace=workspace
        )
        if entry is None:
            raise InvalidInput(
                f"[Session] Prompt Template {session.prompt_template} does not exist.",
                field="prompt_template",
            )
        template_source = entry.template
    return asdict(PromptSettings(
        prompt_template=session.prompt_template,
        template_source=template_source,
        context_strategy=session.context_strategy,
        cs_num_of_prev_prompts=session.cs_num_of_prev_prompts,
        attack_module=session.attack_module,
        metric=session.metric,
        system_prompt=session.system_prompt,
    ))


@validate_call
async def create_batch(
    runner_id: str,
    user_prompt: Annotated[str, Field(min_length=1)],
    history_length: Annotated[int, Field(ge=0)] | None = DEFAULT_HISTORY_LENGTH,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    created_by: str = "",
) -> tuple[str, list[str]]:
    """Store a batch for the session's endpoints and its tasks; returns (batch id, task ids).

    Nothing is queued here: the caller queues the task ids once this has returned.
    """
    session = await require_session(runner_id, workspace=workspace)
    if not session.endpoints:
        raise InvalidInput(f"Session {runner_id} has no endpoints to prompt.", field="endpoints")
    settings = await _prompt_settings(session, workspace)
    batch_id = uuid.uuid4().hex
    now = time.time()
    batch = PromptBatch(
        id=batch_key(workspace, batch_id),
        workspace=workspace,
        session_id=runner_id,
        session_epoch=session.created_epoch,
        batch_id=batch_id,
        user_prompt=user_prompt,
        history_length=DEFAULT_HISTORY_LENGTH if history_length is None else history_length,
        endpoints=list(dict.fromkeys(session.endpoints)),
        prompt_settings=settings,
        created_by=created_by,
        created_at=now,
    )
    tasks = [
        PromptTask(
            id=task_key(workspace, batch_id, endpoint),
            workspace=workspace,
            session_id=runner_id,
            batch_id=batch_id,
            endpoint=endpoint,
            chat_record_id=await reserve_chat_record_id(runner_id, endpoint, workspace=workspace),
            created_at=now,
        )
        for endpoint in batch.endpoints
    ]

    async def store(session_: Any) -> None:
        # Tasks before their batch: recovery starts from batches, so it never finds one
        # without its tasks.
        await PromptTask.get_pymongo_collection().insert_many(
            [task.model_dump(by_alias=True, mode="json") for task in tasks], session=session_
        )
        await PromptBatch.get_pymongo_collection().insert_one(
            batch.model_dump(by_alias=True, mode="json"), session=session_
        )

    await in_transaction(store)
    await _log_batch_status(batch.model_dump(by_alias=True, mode="json"), BatchStatus.QUEUED)
    return batch_id, [task.id for task in tasks]


async def api_send_prompt(
    runner_id: str,
    user_prompt: str,
    history_length: int | None = DEFAULT_HISTORY_LENGTH,
    *,
    enqueue: Enqueue,
    wait_s: float = 0.0,
    workspace: str = DEFAULT_WORKSPACE,
    created_by: str = "",
) -> PromptResult:
    """Send `user_prompt` to every endpoint of the session and wait up to `wait_s` for answers.

    The result says whether the batch finished; if not, it holds what has landed so far.
    """
    batch_id, task_ids = await create_batch(
        runner_id, user_prompt, history_length, workspace=workspace, created_by=created_by
    )
    await enqueue(task_ids)
    return await wait_for_batch(runner_id, batch_id, wait_s, workspace=workspace)


async def _batch(runner_id: str, batch_id: str, workspace: str) -> dict[str, Any]:
    require_database()
    batch = await PromptBatch.get_pymongo_collection().find_one(
        {"_id": batch_key(workspace, batch_id)}
    )
    if batch is None or batch["session_id"] != runner_id:
        raise NotFound(f"Batch {batch_id} of session {runner_id} does not exist.")
    return batch


async def get_batch(
    runner_id: str, batch_id: str, *, workspace: str = DEFAULT_WORKSPACE
) -> PromptResult:
    """The batch's status and the records of it that have landed."""
    return await _result(await _batch(runner_id, batch_id, workspace))


async def wait_for_batch(
    runner_id: str,
    batch_id: str,
    timeout_s: float,
    *,
    workspace: str = DEFAULT_WORKSPACE,
) -> PromptResult:
    """The batch once it has finished, or as it is after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    batch = await _batch(runner_id, batch_id, workspace)
    # The batch's status is read from the database, so this works whichever process runs it.
    poll_s = FIRST_POLL_S
    while BatchStatus(batch["status"]) in UNFINISHED_BATCH and time.monotonic() < deadline:
        await asyncio.sleep(min(poll_s, max(deadline - time.monotonic(), 0)))
        poll_s = min(poll_s * 1.5, LONGEST_POLL_S)
        batch = await _batch(runner_id, batch_id, workspace)
    return await _result(batch)


async def _result(batch: dict[str, Any]) -> PromptResult:
    landed: dict[str, list[dict[str, Any]]] = {}
    cursor = PromptTask.get_pymongo_collection().find(
        {"workspace": batch["workspace"], "batch_id": batch["batch_id"],
         "status": TaskStatus.DONE.value},
        {"endpoint": 1, "record": 1},
    )
    async for task in cursor:
        if task.get("record") is not None:
            landed[task["endpoint"]] = [task["record"]]
    status = BatchStatus(batch["status"])
    return PromptResult(
        current_runner_id=batch["session_id"],
        current_chats={endpoint: landed[endpoint] for endpoint in batch["endpoints"]
                       if endpoint in landed},
        current_batch_size=len(batch["endpoints"]),
        current_status=MOONSHOT_STATUS[status],
        batch_id=batch["batch_id"],
        status=status,
    )


async def cancel_prompts(runner_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> list[str]:
    """Stop the session's unfinished batches; returns their ids.

    When this returns, every task of them is cancelled or has appended its record: a task
    that had already built its record is appended here, and none can start appending later.
    """
    await require_session(runner_id, workspace=workspace)
    batches = [
        batch
        async for batch in PromptBatch.get_pymongo_collection().find(
            {"workspace": workspace, "session_id": runner_id,
             "status": {"$in": [status.value for status in UNFINISHED_BATCH]}}
        )
    ]
    for batch in batches:
        await _cancel_batch_tasks(batch)
        await _settle_batch(batch)
    return [batch["batch_id"] for batch in batches]


async def _cancel_batch_tasks(batch: dict[str, Any]) -> None:
    tasks = PromptTask.get_pymongo_collection()
    task_ids = [
        task["_id"]
        async for task in tasks.find(
            {"workspace": batch["workspace"], "batch_id": batch["batch_id"]}, {"_id": 1}
        )
    ]
    await tasks.update_many(
        {"_id": {"$in": task_ids},
         "status": {"$in": [TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]}},
        {"$set": {"status": TaskStatus.CANCELLED.value, "finished_at": time.time()}},
    )
    async for task in tasks.find(
        {"_id": {"$in": task_ids}, "status": TaskStatus.APPENDING.value}
    ):
        await _finish_task(task, batch, settle=False)


async def recover_unfinished() -> list[str]:
    """Ids of every task of every unfinished batch, in batch order, for queueing again.

    The one query across workspaces: it runs when the service starts, for all of them.
    Batches whose tasks all ended (a process died just before saying so) are settled here.
    """
    require_database()
    task_ids: list[str] = []
    cursor = PromptBatch.get_pymongo_collection().find(
        {"status": {"$in": [status.value for status in UNFINISHED_BATCH]}},
        sort=[("status", 1), ("created_at", 1)],
    )
    async for batch in cursor:
        pending = [
            task["_id"]
            async for task in PromptTask.get_pymongo_collection().find(
                {"workspace": batch["workspace"], "batch_id": batch["batch_id"],
                 "status": {"$in": [status.value for status in UNFINISHED_TASK]}},
                {"_id": 1},
            )
        ]
        if pending:
            task_ids.extend(pending)
        else:
            await _settle_batch(batch)
    return task_ids


async def run_prompt_task(task_id: str, runtime: Runtime) -> TaskStatus | None:
    """Run one task to its end; safe to call any number of times for the same task.

    Returns the task's status afterwards (None for a task that does not exist).
    """
    require_database()
    tasks = PromptTask.get_pymongo_collection()
    task = await tasks.find_one({"_id": task_id})
    if task is None:
        log.warning("Prompt task %s does not exist; nothing to run.", task_id)
        return None
    batch = await PromptBatch.get_pymongo_collection().find_one(
        {"_id": batch_key(task["workspace"], task["batch_id"])}
    )
    status = TaskStatus(task["status"])
    if batch is None:
        return status
    if status in (TaskStatus.DONE, TaskStatus.CANCELLED):
        # Its process may have died between ending the task and settling the batch.
        if BatchStatus(batch["status"]) in UNFINISHED_BATCH:
            await _settle_batch(batch)
        return status
    if status is TaskStatus.APPENDING:
        return await _finish_task(task, batch)
    session = await find_session(task["session_id"], task["workspace"])
    if session is None or session.created_epoch != batch["session_epoch"]:
        # The session was deleted (and perhaps made again) since: its prompts are void.
        await _cancel_batch_tasks(batch)
        await _settle_batch(batch)
        return TaskStatus.CANCELLED
    claimed = await tasks.update_one(
        {"_id": task_id,
         "status": {"$in": [TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]}},
        {"$set": {"status": TaskStatus.RUNNING.value}, "$inc": {"attempts": 1}},
    )
    if not claimed.modified_count:
        return await _catch_up(task_id, batch)
    if BatchStatus(batch["status"]) is BatchStatus.QUEUED:
        await _set_batch_status(batch, BatchStatus.RUNNING, from_=(BatchStatus.QUEUED,))
    record = await _build_record(task, batch, runtime)
    if record is None:
        return await _catch_up(task_id, batch)
    # Each record notes who sent the prompt: several users share a workspace's sessions.
    document = record.model_copy(update={"sent_by": batch.get("created_by", "")}).model_dump()
    moved = await tasks.update_one(
        {"_id": task_id, "status": TaskStatus.RUNNING.value},
        {"$set": {
            "status": TaskStatus.APPENDING.value,
            "record": document,
            "error": record.predicted_result if is_error_record(document) else "",
        }},
    )
    if not moved.modified_count:
        # Cancelled meanwhile, or another copy of the task got there first.
        return await _catch_up(task_id, batch)
    return await _finish_task({**task, "record": document}, batch)


async def _catch_up(task_id: str, batch: dict[str, Any]) -> TaskStatus | None:
    task = await PromptTask.get_pymongo_collection().find_one({"_id": task_id})
    if task is None:
        return None
    if TaskStatus(task["status"]) is TaskStatus.APPENDING:
        return await _finish_task(task, batch)
    return TaskStatus(task["status"])


async def _build_record(
    task: dict[str, Any], batch: dict[str, Any], runtime: Runtime
) -> ChatRecord | None:
    """The task's chat record, or None when the task stopped running before the call."""
    workspace, endpoint = task["workspace"], task["endpoint"]
    settings = PromptSettings(**batch["prompt_settings"])
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
            task["chat_record_id"], batch["user_prompt"], settings, task["session_id"],
            endpoint, unreachable, workspace=workspace,
        )
    async with runtime.limiter.slot(
        endpoint_key(workspace, endpoint), document.max_concurrency, document.max_calls_per_second
    ):
        # Waiting for a slot can take long: a task cancelled meanwhile does not call at all.
        current = await PromptTask.get_pymongo_collection().find_one(
            {"_id": task["_id"]}, {"status": 1}
        )
        if current is None or current["status"] != TaskStatus.RUNNING.value:
            return None

        async def call(prepared: str, system_prompt: str) -> str:
            # Made inside the pipeline, so even a connector that fails to start is a record.
            async with connector(target, http_client=runtime.http_client) as client:
                return await client.predict(prepared, system_prompt)

        return await run_pipeline(
            task["chat_record_id"], batch["user_prompt"], settings, task["session_id"],
            endpoint, call, workspace=workspace,
        )


async def _finish_task(
    task: dict[str, Any], batch: dict[str, Any], *, settle: bool = True
) -> TaskStatus:
    """Append the task's stored record, log it, mark the task done (each step idempotent)."""
    record = ChatRecord.model_validate(task["record"])
    await append_chat_record(
        task["session_id"], task["endpoint"], record, workspace=task["workspace"]
    )
    await log_event(
        task["workspace"],
        task["session_id"],
        batch["session_epoch"],
        f"record|{batch['session_epoch']}|{task['endpoint']}|{record.chat_record_id}",
        EventKind.RECORD,
        batch["batch_id"],
        endpoint=task["endpoint"],
        chat_record_id=record.chat_record_id,
        task_id=task["_id"],
    )
    await PromptTask.get_pymongo_collection().update_one(
        {"_id": task["_id"], "status": TaskStatus.APPENDING.value},
        {"$set": {"status": TaskStatus.DONE.value, "finished_at": time.time()}},
    )
    if settle:
        await _settle_batch(batch)
    return TaskStatus.DONE


async def _settle_batch(batch: dict[str, Any]) -> None:
    """Give the batch its final status once none of its tasks is left to run."""
    scope = {"workspace": batch["workspace"], "batch_id": batch["batch_id"]}
    tasks = [
        task
        async for task in PromptTask.get_pymongo_collection().find(
            scope, {"status": 1, "error": 1}
        )
    ]
    if any(TaskStatus(task["status"]) in UNFINISHED_TASK for task in tasks):
        return
    if any(task["status"] == TaskStatus.CANCELLED.value for task in tasks):
        status = BatchStatus.CANCELLED
    elif tasks and all(task.get("error") for task in tasks):
        status = BatchStatus.FAILED
    else:
        status = BatchStatus.DONE
    await _set_batch_status(batch, status, from_=UNFINISHED_BATCH)


async def _set_batch_status(
    batch: dict[str, Any], status: BatchStatus, *, from_: Sequence[BatchStatus]
) -> None:
    changes: dict[str, Any] = {"status": status.value}
    if status not in UNFINISHED_BATCH:
        changes["finished_at"] = time.time()
    collection = PromptBatch.get_pymongo_collection()
    result = await collection.update_one(
        {"_id": batch["_id"], "status": {"$in": [state.value for state in from_]}},
        {"$set": changes},
    )
    if not result.modified_count:
        current = await collection.find_one({"_id": batch["_id"]}, {"status": 1})
        # Log it anyway if the status is already this one: the process that set it may have
        # died before logging (the log keeps each fact once).
        if current is None or current["status"] != status.value:
            return
    await _log_batch_status(batch, status)


async def _log_batch_status(batch: dict[str, Any], status: BatchStatus) -> None:
    await log_event(
        batch["workspace"],
        batch["session_id"],
        batch["session_epoch"],
        f"batch|{batch['batch_id']}|{status.value}",
        EventKind.BATCH,
        batch["batch_id"],
        status=status.value,
    )

