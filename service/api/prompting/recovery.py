"""Start-up: queue again what a previous process left unfinished, settle what it left unsaid."""

from beanie import SortDirection
from beanie.operators import In

from models import PromptBatch
from models.batches import UNFINISHED_BATCH, UNFINISHED_TASK
from service.api.context import require_database
from service.api.prompting.batches import TaskId, tasks_of
from service.api.prompting.settling import settle_batch


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
        pending = await tasks_of(batch, *UNFINISHED_TASK).project(TaskId).to_list()
        if pending:
            task_ids.extend(task.id for task in pending)
        else:
            await settle_batch(batch)
    return task_ids
