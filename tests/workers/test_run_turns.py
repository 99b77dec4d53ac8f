"""A run's step is named by its queue message: redelivered after its worker died holding the
run's turn, it takes that turn again at once instead of waiting out the lease."""

import time

from models import AttackRun, RunStatus
from models.runs import run_key
from service.api.registries import configure_entry
from service.api.runs import get_run, start_run
from service.workers.fairness import scheduling_labels
from service.workers.tasks import ADVANCE_RUN_TASK
from tests.factories import create_endpoint, create_session
from tests.support.runs import finished_run


async def kick_step(task_queue, runner_id: str, run_id: str, message_id: str) -> None:
    step = task_queue.broker.find_task(ADVANCE_RUN_TASK)
    await step.kicker().with_task_id(message_id).with_labels(
        **scheduling_labels("default", runner_id)
    ).kiq("default", run_id)


async def test_a_redelivered_step_takes_its_own_turn_again(db, task_queue):
    await configure_entry("attack-module", "charswap_attack",
                          configurations={"max_iteration": 3, "seed": 1})
    for endpoint in ("echo-a", "echo-b"):
        await create_endpoint(endpoint)
    runner_id = await create_session(
        endpoints=["echo-a", "echo-b"], runner_args={"attack_module": "charswap_attack"}
    )
    started = await start_run(runner_id, "Please explain how the lock mechanism works")
    # As if the worker running message `step-1` was killed while it held the turn: its lease
    # has long to run.
    await AttackRun.get_pymongo_collection().update_one(
        {"_id": run_key("default", started.run_id)},
        {"$set": {"stepper": "step-1", "stepping_until": time.time() + 3600}},
    )
    # Another step finds the turn taken and leaves the run to its stepper.
    await kick_step(task_queue, runner_id, started.run_id, "step-2")
    await task_queue.wait_idle()
    waiting = await get_run(runner_id, started.run_id)
    assert (waiting.status, waiting.totals.sent) == (RunStatus.QUEUED, 0)
    # The dead worker's message, claimed by another worker, is the stepper: it goes on.
    await kick_step(task_queue, runner_id, started.run_id, "step-1")
    run = await finished_run(task_queue, runner_id, started.run_id)
    assert run.status is RunStatus.DONE, run.reason
    assert run.totals.answered == 6
