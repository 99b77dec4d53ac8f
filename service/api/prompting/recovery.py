"""Queueing again what was left: at start-up, what a previous process left unfinished (and
settling what it left unsaid); while running, what was stored but never reached the queue."""

from beanie import SortDirection
from beanie.operators import In
from pydantic import BaseModel

from models import PromptBatch, PromptTask
from models.batches import UNFINISHED_BATCH, UNFINISHED_TASK, task_key
from service.api.context import require_database
from service.api.filters import where
from service.api.prompting.batches import TaskId, TaskPlace, tasks_of
from service.api.prompting.settling import settle_batch


class BatchEndpoints(BaseModel):
    """A batch read for the ids of its tasks."""

    workspace: str
    batch_id: str
    endpoints: list[str]


async def recover_unfinished() -> list[str]:
    """Ids of every task of every unfinished batch, in batch order, for queueing again.

    The one query across workspaces: it runs when the service starts, for all of them.
    Batches whose tasks all ended (a process died just before saying so) are settled here.
    """
    require_database()
    task_ids: list[str] = []
    unfinished = PromptBatch.find(
        In(PromptBatch.status, list(UNFINISHED_BATCH)),
        sort=[("status", SortDirection.ASCENDING), ("created_at", SortDirection.ASCENDING)],
    )
    async for batch in unfinished:
        tasks = await tasks_of(batch).project(TaskId).to_list()
        pending = [task for task in tasks if task.status in UNFINISHED_TASK]
        if pending:
            task_ids.extend(task.id for task in pending)
        else:
            await settle_batch(batch)
    return task_ids


async def stale_unfinished_tasks(created_before: float) -> dict[str, tuple[str, str]]:
    """(workspace, session) of each unfinished task of the unfinished batches stored before
    `created_before` (epoch seconds), by task id: the periodic sweep queues those of them that
    have no entry in Redis again (a failed enqueue, Redis restarted without its data).

    Two queries however many batches: the batches (index `status_created`), then their
    unfinished tasks by `_id`, which follow from each batch's endpoints.
    """
    require_database()
    batches = PromptBatch.find(where(
        In(PromptBatch.status, list(UNFINISHED_BATCH)),
        PromptBatch.created_at < created_before,
    )).project(BatchEndpoints)
    task_ids = [
        task_key(batch.workspace, batch.batch_id, endpoint)
        async for batch in batches
        for endpoint in batch.endpoints
    ]
    if not task_ids:
        return {}
    tasks = PromptTask.find(
        where(In(PromptTask.id, task_ids), In(PromptTask.status, list(UNFINISHED_TASK)))
    ).project(TaskPlace)
    return {task.id: (task.workspace, task.session_id) async for task in tasks}
