"""Sending a prompt: store a batch and one task per endpoint, then queue the tasks and wait.

A batch and its tasks (each with its chat record id reserved) are stored before anything is
queued, so a restart or a dead worker loses nothing.
"""

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Annotated, Any

from pydantic import Field, validate_call

from models import BatchStatus, PromptBatch, PromptTask, RegistryKind
from models.batches import batch_key, task_key
from service.api.chats import reserve_chat_record_id
from service.api.errors import InvalidInput
from service.api.limits import DEFAULT_LIMITS, Limits, check_prompt_cost
from service.api.prompting.admission import admit, queue_cap
from service.api.prompting.batches import PromptResult, wait_for_batch
from service.api.prompting.settling import log_batch_status
from service.api.registries import find_entry
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.runners import require_session
from service.api.sessions.schemas import SessionMetadata
from service.api.transactions import in_transaction
from service.redteam.pipeline import PromptSettings

DEFAULT_HISTORY_LENGTH = 10

Enqueue = Callable[[Sequence[str]], Awaitable[None]]


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
    max_queued: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[str, list[str]]:
    """Store a batch for the session's endpoints and its tasks; returns (batch id, task ids).

    Nothing is queued here: the caller queues the task ids once this has returned. With
    `max_queued`, a batch that would push the workspace's unfinished tasks past it is refused
    before anything is stored (`admission`).
    """
    session = await require_session(runner_id, workspace=workspace)
    if not session.endpoints:
        raise InvalidInput(f"Session {runner_id} has no endpoints to prompt.", field="endpoints")
    # Before anything is written, the reserved chat record ids included.
    await admit(workspace, len(dict.fromkeys(session.endpoints)), max_queued)
    settings = await _prompt_settings(session, workspace)
    settings = check_prompt_cost(session.endpoints, user_prompt, settings, limits)
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
        await PromptTask.insert_many(tasks, session=session_)
        await batch.insert(session=session_)

    await in_transaction(store)
    await log_batch_status(batch, BatchStatus.QUEUED)
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
    max_queued: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> PromptResult:
    """Send `user_prompt` to every endpoint of the session and wait up to `wait_s` for answers.

    The result says whether the batch finished; if not, it holds what has landed so far.
    `max_queued` caps the workspace's unfinished tasks; unset, the cap of the queue `enqueue`
    belongs to (the service's `TaskQueue`) applies.
    """
    batch_id, task_ids = await create_batch(
        runner_id, user_prompt, history_length, workspace=workspace, created_by=created_by,
        max_queued=max_queued if max_queued is not None else queue_cap(enqueue),
        limits=limits,
    )
    await enqueue(task_ids)
    return await wait_for_batch(runner_id, batch_id, wait_s, workspace=workspace)
