"""The service's handle on the task queue: start it, queue prompt tasks, stop it.

Prompt tasks are stored in MongoDB before they are queued, so Redis being down when a prompt
is sent costs a wait, not the prompt: the request still succeeds, its tasks stay stored as
queued, and a worker's sweep (`requeue_stale`) queues them once Redis is back.
"""

import logging
import time
from collections.abc import Mapping, Sequence

from taskiq import AsyncBroker
from taskiq.exceptions import SendTaskError

from service.api.prompting import (
    ProcessBatches,
    recover_unfinished,
    stale_unfinished_tasks,
    task_places,
)
from service.api.runs.recovery import release_turns, unfinished_runs
from service.settings import Settings
from service.workers.broker import (
    PROMPT_TASK_LABEL,
    LocalBroker,
    ReclaimingStreamBroker,
    build_broker,
)
from service.workers.fairness import scheduling_labels
from service.workers.outages import OUTAGES, REDIS_ERRORS
from service.workers.tasks import (
    ADVANCE_RUN_TASK,
    QUEUE_STATE_KEY,
    RUN_PROMPT_TASK,
    RUNTIME_STATE_KEY,
)

log = logging.getLogger(__name__)

# Appended to a session's id to name the lane its runs' steps wait in (not a valid runner id,
# so never a session's own).
STEPS_LANE = "#steps"


class TaskQueue:
    """Queues prompt tasks on the broker `settings` choose; in-process, it also runs them."""

    def __init__(self, settings: Settings, broker: AsyncBroker | None = None) -> None:
        # Read by `api_send_prompt` before it stores a batch (`service.api.prompting.admission`).
        self.max_queued_per_workspace = settings.max_queued_tasks_per_workspace
        self.broker = broker if broker is not None else build_broker(settings)
        task = self.broker.find_task(RUN_PROMPT_TASK)
        step = self.broker.find_task(ADVANCE_RUN_TASK)
        if task is None or step is None:
            raise RuntimeError("The broker has no prompt task registered.")
        self._task = task
        self._step = step
        # Where this process's tasks find it: a run's step queues the prompt tasks it stores.
        self.broker.state[QUEUE_STATE_KEY] = self

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
        # Each unfinished run's next step: it plans what its last process did not.
        if self.in_process:
            await release_turns()
        for run in await unfinished_runs():
            await self.kick_run(run.workspace, run.session_id, run.run_id)

    async def kick_run(self, workspace: str, session: str, run_id: str) -> None:
        """Queue a step of the run (`service.api.runs.advancing`), in its workspace's turn.

        Steps wait in a lane of their own beside their session's prompt tasks: behind them, a
        step that refills the run's window would wait for the window to drain first.
        With Redis unreachable this still returns: the run is stored, and the workers' sweep
        queues its step once Redis is back.
        """
        try:
            await self._step.kicker().with_labels(
                **scheduling_labels(workspace, f"{session}{STEPS_LANE}")
            ).kiq(workspace, run_id)
        except SendTaskError as error:
            if isinstance(error.__cause__, REDIS_ERRORS):
                OUTAGES.redis.failed(error.__cause__)
                return
            raise
        except REDIS_ERRORS as error:
            OUTAGES.redis.failed(error)

    @property
    def process_batches(self) -> ProcessBatches | None:
        """In-process, what this process's tasks tell of their batches' ends; else None."""
        runtime = self.broker.state.get(RUNTIME_STATE_KEY) if self.in_process else None
        return None if runtime is None else runtime.batches

    async def enqueue(
        self, task_ids: Sequence[str], place: tuple[str, str] | None = None
    ) -> None:
        """Queue the tasks, each labelled with its workspace and session for fair turns
        (`place`, when the caller knows it for all of them; else read from the tasks).

        With Redis unreachable this still returns: the tasks stay stored as queued, and the
        workers' sweep queues them once it is back (the outage is logged once).
        """
        places = (
            dict.fromkeys(task_ids, place) if place is not None
            else await task_places(task_ids)
        )
        try:
            await self._kick({
                task_id: places.get(task_id, ("", "")) for task_id in task_ids
            })
        except REDIS_ERRORS as error:
            OUTAGES.redis.failed(error)
            return
        if not self.in_process:
            OUTAGES.redis.succeeded()

    async def requeue_stale(self, older_than_s: float) -> int:
        """Queue again each unfinished task stored more than `older_than_s` ago that has no
        entry in Redis (nor is held by this process); returns how many. In-process: none.

        A task queued twice still appends once; Redis keeps each task queued once, so this
        only adds what Redis does not hold. Raises while Redis or the database is down.
        """
        if not isinstance(self.broker, ReclaimingStreamBroker):
            return 0
        # A run's step may have been lost with Redis's data: asking again is harmless.
        for run in await unfinished_runs(created_before=time.time() - older_than_s):
            await self.kick_run(run.workspace, run.session_id, run.run_id)
        places = await stale_unfinished_tasks(time.time() - older_than_s)
        if not places:
            return 0
        queued = await self.broker.queued_tasks(list(places))
        held = self.broker.held_tasks()
        missing = {
            task_id: place for task_id, place in places.items()
            if task_id not in queued and task_id not in held
        }
        await self._kick(missing)
        return len(missing)

    async def _kick(self, places: Mapping[str, tuple[str, str]]) -> None:
        for task_id, (workspace, session) in places.items():
            try:
                await self._task.kicker().with_labels(
                    **scheduling_labels(workspace, session), **{PROMPT_TASK_LABEL: task_id}
                ).kiq(task_id)
            except SendTaskError as error:
                # taskiq wraps what the broker raised: an outage is told apart from the rest.
                if isinstance(error.__cause__, REDIS_ERRORS):
                    raise error.__cause__ from None
                raise

    async def wait_idle(self) -> None:
        """In-process: until every queued task has ended (for tests and orderly shutdowns)."""
        if isinstance(self.broker, LocalBroker):
            await self.broker.wait_all()

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop; in-process, running tasks first get up to `drain_s` to finish. Whatever does
        not is still unfinished in MongoDB and queued again by the next start."""
        if isinstance(self.broker, LocalBroker) and drain_s > 0:
            await self.broker.drain(drain_s)
        await self.broker.shutdown()
