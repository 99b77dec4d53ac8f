"""Sending a prompt: store a batch and one task per endpoint, then queue the tasks and wait.

A batch and its tasks (each with its chat record id reserved) are stored before anything is
queued, so a restart or a dead worker loses nothing.
"""

import time
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Protocol

from pydantic import Field, validate_call
from pymongo.errors import BulkWriteError, DuplicateKeyError

from models import BatchStatus, PromptBatch, PromptTask, RegistryKind
from models.batches import batch_key, task_key
from service.api.atomic import only_duplicates
from service.api.chats import reserve_chat_record_id
from service.api.errors import InvalidInput
from service.api.limits import DEFAULT_LIMITS, Limits, check_prompt_cost
from service.api.prompting.admission import admit, queue_cap
from service.api.prompting.batches import BatchWatch, PromptResult, wait_for_batch
from service.api.prompting.settling import log_batch_status
from service.api.registries import find_entry
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.runners import require_session
from service.api.sessions.schemas import SessionMetadata
from service.api.transactions import in_transaction
from service.redteam.pipeline import PromptSettings

DEFAULT_HISTORY_LENGTH = 10



class Enqueue(Protocol):
    """Queues prompt tasks; `place` is their (workspace, session) when the caller knows it
    (all of them in one), which spares reading it."""

    def __call__(
        self, task_ids: Sequence[str], place: tuple[str, str] | None = None
    ) -> Awaitable[None]: ...


async def prompt_settings(session: SessionMetadata, workspace: str) -> dict[str, Any]:
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
    """The session's prompt settings as a batch keeps them (its template's text included)."""
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
    session: SessionMetadata | None = None,
) -> tuple[str, list[str]]:
    """Store a batch for the session's endpoints and its tasks; returns (batch id, task ids).

    Nothing is queued here: the caller queues the task ids once this has returned. With
    `max_queued`, a batch that would push the workspace's unfinished tasks past it is refused
    before anything is stored (`admission`). `session` is the session's metadata when the
    caller has just read it in `workspace` (the HTTP handler, for its 404), which spares
    reading it again.
    """
    if session is None or session.session_id != runner_id:
        session = await require_session(runner_id, workspace=workspace)
    if not session.endpoints:
        raise InvalidInput(f"Session {runner_id} has no endpoints to prompt.", field="endpoints")
    # Before anything is written, the reserved chat record ids included.
    await admit(workspace, len(dict.fromkeys(session.endpoints)), max_queued)
    settings = await prompt_settings(session, workspace)
    settings = check_prompt_cost(session.endpoints, user_prompt, settings, limits)
    batch_id = uuid.uuid4().hex
    task_ids = await store_batch(
        NewBatch(
            workspace=workspace,
            session_id=runner_id,
            session_epoch=session.created_epoch,
            batch_id=batch_id,
            user_prompt=user_prompt,
            history_length=DEFAULT_HISTORY_LENGTH if history_length is None else history_length,
            endpoints=list(dict.fromkeys(session.endpoints)),
            prompt_settings=settings,
            created_by=created_by,
        )
    )
    return batch_id, task_ids


@dataclass(frozen=True)
class NewBatch:
    """What a batch is made of; `run_id` and `prompt_key` for an attack prompt of a run."""

    workspace: str
    session_id: str
    session_epoch: str
    batch_id: str
    user_prompt: str
    history_length: int
    endpoints: list[str]
    prompt_settings: dict[str, Any]
    created_by: str = ""
    run_id: str = ""
    prompt_key: str = ""


async def store_batch(new: NewBatch, record_ids: Mapping[str, int] | None = None) -> list[str]:
    """Store the batch and one task per endpoint, each with its chat record id reserved, in one
    transaction; returns the task ids, in the order of `new.endpoints`.

    `record_ids` are ids the caller reserved already, by endpoint (a run reserves those of all
    the prompts of a step at once); the others are reserved here. A batch whose id is taken is
    not stored again: `BatchExists` (nothing of this call stays but the reserved ids, unused).
    """
    reserved = record_ids or {}
    workspace = new.workspace
    now = time.time()
    batch = PromptBatch(
        id=batch_key(workspace, new.batch_id),
        workspace=workspace,
        session_id=new.session_id,
        session_epoch=new.session_epoch,
        batch_id=new.batch_id,
        user_prompt=new.user_prompt,
        history_length=new.history_length,
        endpoints=new.endpoints,
        prompt_settings=new.prompt_settings,
        created_by=new.created_by,
        created_at=now,
        run_id=new.run_id,
        prompt_key=new.prompt_key,
    )
    tasks = [
        PromptTask(
            id=task_key(workspace, new.batch_id, endpoint),
            workspace=workspace,
            session_id=new.session_id,
            batch_id=new.batch_id,
            endpoint=endpoint,
            chat_record_id=reserved.get(endpoint) or await reserve_chat_record_id(
                new.session_id, endpoint, workspace=workspace
            ),
            created_at=now,
            run_id=new.run_id,
        )
        for endpoint in new.endpoints
    ]

    async def store(session_: Any) -> None:
        # Tasks before their batch: recovery starts from batches, so it never finds one
        # without its tasks.
        await PromptTask.insert_many(tasks, session=session_)
        await batch.insert(session=session_)

    try:
        await in_transaction(store)
    except (DuplicateKeyError, BulkWriteError) as error:
        if isinstance(error, BulkWriteError) and not only_duplicates(error):
            raise
        raise BatchExists(new.batch_id) from None
    await log_batch_status(batch, BatchStatus.QUEUED)
    return [task.id for task in tasks]


class BatchExists(Exception):
    """A batch with this id is stored already (an attack prompt planned twice)."""


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
    watch: BatchWatch | None = None,
    session: SessionMetadata | None = None,
) -> PromptResult:
    """Send `user_prompt` to every endpoint of the session and wait up to `wait_s` for answers.

    The result says whether the batch finished; if not, it holds what has landed so far.
    With `watch` the wait is told of the batch's end (`batches.wait_for_batch`); without, it
    polls the stored batch. `session` as for `create_batch`.
    `max_queued` caps the workspace's unfinished tasks; unset, the cap of the queue `enqueue`
    belongs to (the service's `TaskQueue`) applies.
    """
    batch_id, task_ids = await create_batch(
        runner_id, user_prompt, history_length, workspace=workspace, created_by=created_by,
        max_queued=max_queued if max_queued is not None else queue_cap(enqueue),
        limits=limits, session=session,
    )
    if watch is None or wait_s <= 0:
        await enqueue(task_ids, (workspace, runner_id))
        return await wait_for_batch(runner_id, batch_id, wait_s, workspace=workspace)
    # Watched before it is queued, so an end that comes before the wait begins is not missed.
    with watch(workspace, runner_id, batch_key(workspace, batch_id)) as wakes:
        pending = wakes.pending()
        await enqueue(task_ids, (workspace, runner_id))
        return await wait_for_batch(
            runner_id, batch_id, wait_s, workspace=workspace, wakes=wakes, pending=pending
        )
