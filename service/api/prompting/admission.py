"""Backpressure: a workspace's unfinished prompt tasks are capped; a prompt past the cap waits.

The rule: a prompt is refused (`RateLimited`, nothing stored) when the workspace's unfinished
tasks (queued, running or appending) plus the tasks the prompt would add exceed the cap. The
count is one indexed count, taken before the batch is stored; prompts of one workspace racing
each other may each pass it, so the cap can be overshot by the tasks of the prompts stored at
the same moment (each at most one task per endpoint of its session), never more.
"""

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from beanie.operators import In

from models import PromptTask
from models.batches import UNFINISHED_TASK
from service.api.errors import RateLimited
from service.api.filters import where

# Queued tasks drain at the pace of the endpoints; a few seconds is a fair first guess.
RETRY_AFTER_S = 5


@runtime_checkable
class BoundedQueue(Protocol):
    """A task queue that caps each workspace's unfinished tasks (`service.workers.queue`)."""

    max_queued_per_workspace: int


def queue_cap(enqueue: Callable[..., Any]) -> int | None:
    """The cap of the queue whose `enqueue` method this is, if it has one."""
    owner = getattr(enqueue, "__self__", None)
    return owner.max_queued_per_workspace if isinstance(owner, BoundedQueue) else None


async def unfinished_tasks(workspace: str) -> int:
    """How many of the workspace's prompt tasks have not finished (index `workspace_status`)."""
    return await PromptTask.find(
        where(PromptTask.workspace == workspace, In(PromptTask.status, list(UNFINISHED_TASK)))
    ).count()


async def admit(workspace: str, new_tasks: int, cap: int | None) -> None:
    """Refuse `new_tasks` more tasks if they would push the workspace past `cap`."""
    if cap is None:
        return
    queued = await unfinished_tasks(workspace)
    if queued + new_tasks > cap:
        raise RateLimited(
            f"Workspace {workspace} has {queued} prompt tasks waiting or running; this prompt "
            f"would add {new_tasks}, past the limit of {cap}. Try again when some have finished.",
            retry_after=RETRY_AFTER_S,
        )
