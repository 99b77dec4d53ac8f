"""Waiting for a red-teaming run to end in the in-process workers."""

from service.api.runs import RunView, get_run
from service.workers.queue import TaskQueue


async def finished_run(
    task_queue: TaskQueue, runner_id: str, run_id: str, *, workspace: str = "default"
) -> RunView:
    """The run once the in-process workers are idle: each step queues the next, so idle means
    the run has nothing left to do."""
    await task_queue.wait_idle()
    return await get_run(runner_id, run_id, workspace=workspace)
