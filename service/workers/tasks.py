"""Thin taskiq tasks: they take ids and call `service.api.prompting`."""

from typing import Annotated

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, TaskiqDepends, TaskiqState

from service.api import prompting
from service.workers.outages import OUTAGE_ERRORS, OUTAGES, Backoff

RUN_PROMPT_TASK = "sparring.run_prompt_task"
RUNTIME_STATE_KEY = "runtime"


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


def register_tasks(broker: AsyncBroker) -> AsyncTaskiqDecoratedTask:
    """Register the tasks on `broker` (made per process, never at import); returns the task."""
    return broker.register_task(run_prompt_task, task_name=RUN_PROMPT_TASK)


