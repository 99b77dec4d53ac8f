"""The service's handle on the task queue: start it, queue prompt tasks, stop it."""

import logging
from collections.abc import Sequence

from taskiq import AsyncBroker

from service.api.prompting import recover_unfinished, task_places
from service.settings import Settings
from service.workers.broker import LocalBroker, build_broker
from service.workers.fairness import scheduling_labels
from service.workers.tasks import RUN_PROMPT_TASK

log = logging.getLogger(__name__)


class TaskQueue:
    """Queues prompt tasks on the broker `settings` choose; in-process, it also runs them."""

    def __init__(self, settings: Settings, broker: AsyncBroker | None = None) -> None:
        # Read by `api_send_prompt` before it stores a batch (`service.api.prompting.admission`).
        self.max_queued_per_workspace = settings.max_queued_tasks_per_workspace
        self.broker = broker if broker is not None else build_broker(settings)
        task = self.broker.find_task(RUN_PROMPT_TASK)
        if task is None:
            raise RuntimeError("The broker has no prompt task registered.")
        self._task = task

    @property
    def in_process(self) -> bool:
        return isinstance(self.broker, LocalBroker)

    async def start(self) -> None:
        """Start the broker, then queue again whatever a previous run left unfinished."""
        await self.broker.startup()
        task_ids = await recover_unfinished()
        if task_ids:
            log.info("Queueing %d unfinished prompt task(s) again.", len(task_ids))
            await self.enqueue(task_ids)

    async def enqueue(self, task_ids: Sequence[str]) -> None:
        """Queue the tasks, each labelled with its workspace and session for fair turns."""
        places = await task_places(task_ids)
        for task_id in task_ids:
            workspace, session = places.get(task_id, ("", ""))
            await self._task.kicker().with_labels(
                **scheduling_labels(workspace, session)
            ).kiq(task_id)

    async def wait_idle(self) -> None:
        """In-process: until every queued task has ended (for tests and orderly shutdowns)."""
        if isinstance(self.broker, LocalBroker):
            await self.broker.wait_all()

    async def stop(self) -> None:
        await self.broker.shutdown()
