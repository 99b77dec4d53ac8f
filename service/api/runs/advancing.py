"""Moving a run on: one step reads how far the run has got, plans the next attack prompts and
stores and queues them, or ends the run.

A step is queued when a run starts and whenever one of its batches ends. Steps of one run take
turns (`transitions.take_turn`): a step that finds the turn taken asks the stepper to step once
more. Each may be cut short anywhere: every write is conditional (a batch id follows from the
run and the prompt's key, a status moves only from where it was).
"""

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from beanie.operators import In
from pydantic import BaseModel

from models import AttackRun, PromptBatch, RunStatus
from models.batches import UNFINISHED_BATCH, batch_key
from models.runs import UNFINISHED_RUN, run_batch_id, run_key
from service.api.chats import reserve_chat_record_ids
from service.api.filters import where
from service.api.prompting import Runtime
from service.api.prompting.creating import BatchExists, NewBatch, prompt_settings, store_batch
from service.api.prompting.settling import cancel_batch_tasks, settle_batch
from service.api.runs.calls import endpoint_call
from service.api.runs.counting import count_sent_each, exact_counts, settle_counts
from service.api.runs.planning import PlannedPrompt, plan
from service.api.runs.state import read_progress, read_state
from service.api.runs.transitions import end_turn, log_run_status, move_run, take_turn
from service.api.sessions.store import find_session
from service.redteam.attacks.errors import AttackError
from service.redteam.attacks.pair import Pair
from service.redteam.attacks.registry import ATTACK_MODULES

Enqueue = Callable[[Sequence[str]], Awaitable[None]]
# (workspace, session, run id): queue a step of the run.
KickRun = Callable[[str, str, str], Awaitable[None]]


async def advance_run(
    workspace: str,
    run_id: str,
    runtime: Runtime,
    enqueue: Enqueue,
    *,
    kick: KickRun | None = None,
    turn: str = "",
) -> RunStatus | None:
    """Take the run one step on; returns its status afterwards (None if it does not exist,
    or when another step has the turn: that one sees this one was asked for).

    One step at a time per run, so an attack prompt is planned, and its chat record ids
    reserved, once. A step asked for while this one ran is queued with `kick` (so a worker's
    task ends, rather than stepping for as long as the run keeps asking), or taken here without
    one. `turn` names the caller across its retries (a step cut short by an outage takes its
    own turn again).
    """
    key = run_key(workspace, run_id)
    turn = turn or uuid.uuid4().hex
    while await take_turn(key, turn):
        status, session_id = await _step(key, runtime, enqueue)
        if not await end_turn(key, turn):
            return status
        if kick is not None:
            await kick(workspace, session_id, run_id)
            return status
    return None


async def _step(key: str, runtime: Runtime, enqueue: Enqueue) -> tuple[RunStatus | None, str]:
    """The step; returns the run's status afterwards and its session."""
    run = await AttackRun.get(key)
    if run is None:
        return None, ""
    return await _step_run(run, runtime, enqueue), run.session_id


async def _step_run(run: AttackRun, runtime: Runtime, enqueue: Enqueue) -> RunStatus:
    if run.status not in UNFINISHED_RUN:
        return run.status
    session = await find_session(run.session_id, run.workspace)
    if session is None or session.created_epoch != run.session_epoch:
        await end_run(run, RunStatus.CANCELLED, reason="the session was deleted")
        return RunStatus.CANCELLED
    if run.status is RunStatus.QUEUED:
        await move_run(run, RunStatus.RUNNING, from_=(RunStatus.QUEUED,))
    module = ATTACK_MODULES[run.attack_module]
    # `pair` plans from every answer; the others need only how far the run has got.
    state = await (read_state(run) if isinstance(module, Pair) else read_progress(run))
    attacker = (
        endpoint_call(run.module_endpoints[0], runtime, workspace=run.workspace)
        if run.module_endpoints else None
    )
    try:
        planned = await plan(module, state, attacker)
    except AttackError as error:
        await end_run(run, RunStatus.FAILED, reason=f"{run.attack_module}: {error}")
        return RunStatus.FAILED
    settings = await prompt_settings(session, run.workspace)
    new_batches = await _unstored(run, planned, settings)
    reserved = await _reserve_record_ids(run, new_batches)
    queued = False
    # The first prompt is queued as soon as it is stored, the rest after: when many runs start
    # together, each run's first answer then waits for one stored prompt, not for all of them.
    for part in (slice(None, 1), slice(1, None)):
        task_ids = await _store(run, new_batches[part], reserved[part])
        if not task_ids:
            continue
        current = await AttackRun.get(run.id)
        if current is None or current.status not in UNFINISHED_RUN:
            # Cancelled while these were stored: they never run. (A cancel that comes after
            # this read finds them stored, and cancels them itself.)
            await _cancel_unfinished(run)
            return RunStatus.CANCELLED if current is None else current.status
        await enqueue(task_ids)
        queued = True
    if queued:
        return RunStatus.RUNNING
    if state.in_flight == 0 and not planned:
        reason = "" if state.active else "every endpoint stopped"
        await end_run(run, RunStatus.DONE, reason=reason)
        return RunStatus.DONE
    return RunStatus.RUNNING


async def _unstored(
    run: AttackRun, planned: list[PlannedPrompt], settings: dict[str, object]
) -> list[NewBatch]:
    """The batches of the planned prompts, but those stored already (a step cut short and
    taken again finds some of its batches stored)."""
    if not planned:
        return []
    new_batches = [_new_batch(run, prompt, settings) for prompt in planned]
    stored = {
        batch.batch_id
        for batch in await PromptBatch.find(
            In(PromptBatch.id, [batch_key(run.workspace, new.batch_id) for new in new_batches])
        ).project(StoredBatch).to_list()
    }
    return [new for new in new_batches if new.batch_id not in stored]


async def _store(
    run: AttackRun, new_batches: list[NewBatch], reserved: list[dict[str, int]]
) -> list[str]:
    """Store batches of the step, each with its reserved record ids; the ids of the tasks
    stored. Commands are per step, not per prompt, where they can be: a step of many runs
    started together competes with their tasks for the database, and a run's first answer
    waits for its first step."""
    task_ids: list[str] = []
    sent: Counter[str] = Counter()
    for new, record_ids in zip(new_batches, reserved, strict=True):
        try:
            task_ids.extend(await store_batch(new, record_ids))
        except BatchExists:
            continue
        sent.update(new.endpoints)
    await count_sent_each(run, sent)
    return task_ids


class StoredBatch(BaseModel):
    batch_id: str


def _new_batch(run: AttackRun, prompt: PlannedPrompt, settings: dict[str, object]) -> NewBatch:
    return NewBatch(
        workspace=run.workspace,
        session_id=run.session_id,
        session_epoch=run.session_epoch,
        batch_id=run_batch_id(run.run_id, prompt.key),
        user_prompt=prompt.prompt,
        history_length=run.history_length,
        endpoints=list(prompt.endpoints),
        prompt_settings=dict(settings),
        created_by=run.created_by,
        run_id=run.run_id,
        prompt_key=prompt.key,
    )


async def _reserve_record_ids(
    run: AttackRun, new_batches: list[NewBatch]
) -> list[dict[str, int]]:
    """Each batch's record ids by endpoint, in the batches' order: one reservation per
    endpoint for the whole step."""
    wanted = Counter(endpoint for new in new_batches for endpoint in new.endpoints)
    reserved: list[dict[str, int]] = [{} for _ in new_batches]
    for endpoint, count in wanted.items():
        ids = iter(await reserve_chat_record_ids(
            run.session_id, endpoint, count, workspace=run.workspace
        ))
        for record_ids, new in zip(reserved, new_batches, strict=True):
            if endpoint in new.endpoints:
                record_ids[endpoint] = next(ids)
    return reserved


async def end_run(run: AttackRun, status: RunStatus, *, reason: str = "") -> bool:
    """Give the run its final status; cancelling or failing also stops its unfinished batches,
    appending what had already been built (nothing is appended after this returns).

    The final status's event is logged after those appends: a follower that stops at it (the
    UI webhook, a stream reader) has then seen every record of the run.
    """
    # A run done has no batch left unfinished: its counts are made exact in the same write as
    # its status, so whoever reads it done reads its last counts. Cancelling or failing
    # appends what was held after the move, and counts after that.
    counts = exact_counts(await read_state(run)) if status is RunStatus.DONE else None
    moved = await move_run(
        run, status, from_=UNFINISHED_RUN, reason=reason, log=False, counts=counts
    )
    if status is not RunStatus.DONE:
        await _cancel_unfinished(run)
    if moved:
        # Exact before the end is told, so a follower that stops at it reads the last counts.
        if counts is None:
            await settle_counts(run)
        await log_run_status(run, status)
    return moved


async def _cancel_unfinished(run: AttackRun) -> None:
    batches = await PromptBatch.find(where(
        PromptBatch.workspace == run.workspace,
        PromptBatch.run_id == run.run_id,
        In(PromptBatch.status, list(UNFINISHED_BATCH)),
    )).to_list()
    for batch in batches:
        await cancel_batch_tasks(batch)
        await settle_batch(batch)
