"""Runs a step may be owed: at start-up, and in the workers' sweep (a step whose queue entry was
lost with a Redis restart). A step that is not owed does nothing, so these may over-ask."""

from beanie.operators import In
from pydantic import BaseModel

from models import AttackRun
from models.runs import UNFINISHED_RUN
from service.api.context import require_database
from service.api.filters import Condition, where


class RunPlace(BaseModel):
    """A run read for where its steps are scheduled."""

    workspace: str
    session_id: str
    run_id: str


async def unfinished_runs(created_before: float | None = None) -> list[RunPlace]:
    """Every unfinished run (of every workspace), oldest first; with `created_before` (epoch
    seconds), only those stored before it."""
    require_database()
    conditions: list[Condition] = [In(AttackRun.status, list(UNFINISHED_RUN))]
    if created_before is not None:
        conditions.append(AttackRun.created_at < created_before)
    return await AttackRun.find(where(*conditions)).sort("created_at").project(RunPlace).to_list()


async def release_turns() -> int:
    """Free every unfinished run's turn to step; returns how many were held.

    Only for a process that runs every step of its database itself (tasks in process): a turn
    still held at its start was held by a process that is gone, and waiting out the lease would
    leave the run idle, as nothing else would ask it to step.
    """
    require_database()
    released = await AttackRun.get_pymongo_collection().update_many(
        {"status": {"$in": [status.value for status in UNFINISHED_RUN]},
         "stepper": {"$ne": None}},
        {"$set": {"stepper": None, "stepping_until": None, "step_wanted": False}},
    )
    return released.modified_count
