"""Thin taskiq tasks: they take ids and call `service.api.prompting`."""

from typing import Annotated

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, Context, TaskiqDepends, TaskiqState

from service.api import prompting, runs
from service.workers.outages import OUTAGE_ERRORS, OUTAGES, Backoff

RUN_PROMPT_TASK = "sparring.run_prompt_task"
ADVANCE_RUN_TASK = "sparring.advance_run"
RUNTIME_STATE_KEY = "runtime"
# The process's `TaskQueue`: a run's step queues the prompt tasks it stores.
QUEUE_STATE_KEY = "task_queue"


async def run_prompt_task(
    task_id: str, state: Annotated[TaskiqState, TaskiqDepends()]
) -> str | None:
    """Run one prompt task (one endpoint of a batch); returns its status afterwards.

    A task that the database or Redis (the shared limits) fails midway waits with backoff and
    runs again from the start until they are back: running a task twice appends its record
    once (the endpoint may be called again). Shutting down cancels the wait.
    """
    backoff = Backoff()
    while True:
        try:
            status = await prompting.run_prompt_task(task_id, state[RUNTIME_STATE_KEY])
        except OUTAGE_ERRORS as error:
            OUTAGES.failed(error)
            await backoff.wait()
            continue
        # It read and wrote the database; Redis it may not have needed.
        OUTAGES.database.succeeded()
        return None if status is None else status.value


async def advance_run(
    workspace: str,
    run_id: str,
    state: Annotated[TaskiqState, TaskiqDepends()],
    context: Annotated[Context, TaskiqDepends()],
) -> str | None:
    """Take a red-teaming run one step on (`service.api.runs.advancing`); returns its status.

    Outages are waited out as for prompt tasks: a step cut short is taken again from the start.
    """
    backoff = Backoff()
    # The message's id names the step: its own turn is taken again after an outage, and when
    # its worker died holding the turn, by whichever worker claims the message (not waited
    # out as another step's until the lease ends).
    turn = context.message.task_id
    while True:
        try:
            queue = state[QUEUE_STATE_KEY]
            status = await runs.advance_run(
                workspace, run_id, state[RUNTIME_STATE_KEY], queue.enqueue,
                kick=queue.kick_run, turn=turn,
            )
        except OUTAGE_ERRORS as error:
            OUTAGES.failed(error)
            await backoff.wait()
            continue
        OUTAGES.database.succeeded()
        return None if status is None else status.value


def register_tasks(broker: AsyncBroker) -> AsyncTaskiqDecoratedTask:
    """Register the tasks on `broker` (made per process, never at import); returns the prompt
    task."""
    broker.register_task(advance_run, task_name=ADVANCE_RUN_TASK)
    return broker.register_task(run_prompt_task, task_name=RUN_PROMPT_TASK)


