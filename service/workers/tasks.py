"""Thin taskiq tasks: they take ids and call `service.api.prompting`."""

from typing import Annotated

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, TaskiqDepends, TaskiqState

from service.api import prompting

RUN_PROMPT_TASK = "sparring.run_prompt_task"
RUNTIME_STATE_KEY = "runtime"


async def run_prompt_task(
    task_id: str, state: Annotated[TaskiqState, TaskiqDepends()]
) -> str | None:
    """Run one prompt task (one endpoint of a batch); returns its status afterwards."""
    status = await prompting.run_prompt_task(task_id, state[RUNTIME_STATE_KEY])
    return None if status is None else status.value


def register_tasks(broker: AsyncBroker) -> AsyncTaskiqDecoratedTask:
    """Register the tasks on `broker` (made per process, never at import); returns the task."""
    return broker.register_task(run_prompt_task, task_name=RUN_PROMPT_TASK)
